#!/usr/bin/env bash
# The portal's CI steps for a deploy job (GitHub Actions style; bash and curl only).
#
#   deploy-gate.sh check     fail the job unless the environment's configuration is clean
#                            (GET /api/environments/<project-slug>/<environment-name>/check:
#                            200 clean, 409 hygiene errors)
#   deploy-gate.sh record [STATUS]
#                            record the deployment in the portal's ledger (POST /api/deployments):
#                            STATUS is in_progress, success (the default), failure, cancelled,
#                            queued or rolled_back. The same run posting again (in_progress, then
#                            success or failure) updates one deployment: its external id is the
#                            workflow run. Needs a token with the scope deployments:write.
#
# Environment (set them from the repository's secrets and variables):
#   OPSPORTAL_URL          https://ops.example.com (no trailing slash needed)
#   OPSPORTAL_TOKEN        a service token with the scope env:check (never printed)
#   OPSPORTAL_ENVIRONMENT  <project-slug>/<environment-name>, e.g. makalah-ai/prod
#
# In a workflow, before the deploy step:
#
#   - name: Configuration health gate
#     env:
#       OPSPORTAL_URL: ${{ vars.OPSPORTAL_URL }}
#       OPSPORTAL_TOKEN: ${{ secrets.OPSPORTAL_TOKEN }}
#       OPSPORTAL_ENVIRONMENT: makalah-ai/prod
#     run: bash docs/ci/deploy-gate.sh check
#
# and around the deploy step (same env; GitHub sets GITHUB_SHA, GITHUB_REF_NAME, GITHUB_RUN_ID):
#
#   - run: bash docs/ci/deploy-gate.sh record in_progress
#   - run: npx vercel deploy --prod ...           # the deploy itself
#   - if: success()
#     run: bash docs/ci/deploy-gate.sh record success
#   - if: failure()
#     run: bash docs/ci/deploy-gate.sh record failure
#
# What `record` sends, each overridable: OPSPORTAL_SHA (default $GITHUB_SHA), OPSPORTAL_REF
# ($GITHUB_REF_NAME), OPSPORTAL_EXTERNAL_ID ($GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT), OPSPORTAL_PROVIDER
# (github_actions), OPSPORTAL_DEPLOY_URL, OPSPORTAL_COMMIT_TIME (ISO 8601, e.g. from
# `git log -1 --format=%cI`; the lead time needs it).
#
# Exit codes: 0 clean, 1 the gate is closed (errors in the configuration), 2 the portal could
# not be asked (unreachable, bad token or scope, unknown environment).
set -euo pipefail

die() { echo "::error::$*" >&2; exit 2; }

: "${OPSPORTAL_URL:?set OPSPORTAL_URL to the address of the portal}"
: "${OPSPORTAL_TOKEN:?set OPSPORTAL_TOKEN (a token with the scope the step needs)}"
: "${OPSPORTAL_ENVIRONMENT:?set OPSPORTAL_ENVIRONMENT to <project-slug>/<environment-name>}"
BASE="${OPSPORTAL_URL%/}/api"
BODY="$(mktemp)"
trap 'rm -f "$BODY"' EXIT

# api METHOD PATH [curl args...]: the response body goes to $BODY, the status to stdout.
api() {
  local method="$1" path="$2"
  shift 2
  # The token travels in a header read from stdin (-H @-), so it is in no process listing.
  printf 'Authorization: Bearer %s\n' "$OPSPORTAL_TOKEN" |
    curl --silent --show-error --max-time 60 --retry 2 --retry-delay 3 --retry-connrefused \
      -X "$method" -H @- -H 'Accept: application/json' \
      -o "$BODY" -w '%{http_code}' "$@" "${BASE}${path}" ||
    die "could not reach ${BASE}${path}"
}

check() {
  local status
  status="$(api GET "/environments/${OPSPORTAL_ENVIRONMENT}/check")"
  case "$status" in
    200)
      echo "opsportal: ${OPSPORTAL_ENVIRONMENT} configuration is clean"
      cat "$BODY"; echo
      ;;
    409)
      echo "::error::opsportal: ${OPSPORTAL_ENVIRONMENT} has configuration errors; not deploying"
      cat "$BODY"; echo
      exit 1
      ;;
    *)
      cat "$BODY" >&2; echo >&2
      die "opsportal answered HTTP ${status} to the health check of ${OPSPORTAL_ENVIRONMENT}"
      ;;
  esac
}

# A JSON string: backslashes, quotes and control characters escaped.
json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\r'/\\r}"
  s="${s//$'\t'/\\t}"
  printf '"%s"' "$s"
}

record() {
  local status sha external_id body
  status="${1:-success}"
  sha="${OPSPORTAL_SHA:-${GITHUB_SHA:-}}"
  [ -n "$sha" ] || die "set OPSPORTAL_SHA (or run in GitHub Actions, which sets GITHUB_SHA)"
  external_id="${OPSPORTAL_EXTERNAL_ID:-}"
  if [ -z "$external_id" ] && [ -n "${GITHUB_RUN_ID:-}" ]; then
    external_id="${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}"
  fi
  body="{\"environment\": $(json_str "$OPSPORTAL_ENVIRONMENT"), \"sha\": $(json_str "$sha")"
  body+=", \"status\": $(json_str "$status")"
  body+=", \"ref\": $(json_str "${OPSPORTAL_REF:-${GITHUB_REF_NAME:-}}")"
  body+=", \"external_id\": $(json_str "$external_id")"
  body+=", \"provider\": $(json_str "${OPSPORTAL_PROVIDER:-github_actions}")"
  body+=", \"url\": $(json_str "${OPSPORTAL_DEPLOY_URL:-}")"
  if [ -n "${OPSPORTAL_COMMIT_TIME:-}" ]; then
    body+=", \"commit_time\": $(json_str "$OPSPORTAL_COMMIT_TIME")"
  fi
  body+="}"
  local code
  code="$(api POST /deployments -H 'Content-Type: application/json' --data-binary "$body")"
  case "$code" in
    200|201)
      echo "opsportal: recorded the deployment of ${sha:0:7} to ${OPSPORTAL_ENVIRONMENT} as ${status}"
      cat "$BODY"; echo
      ;;
    *)
      cat "$BODY" >&2; echo >&2
      die "opsportal answered HTTP ${code} when recording the deployment to ${OPSPORTAL_ENVIRONMENT}"
      ;;
  esac
}

case "${1:-check}" in
  check) check ;;
  record) shift; record "$@" ;;
  *) die "unknown step ${1}; known: check, record" ;;
esac
