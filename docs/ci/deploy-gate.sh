#!/usr/bin/env bash
# The portal's CI steps for a deploy job (GitHub Actions style; bash and curl only).
#
#   deploy-gate.sh check     fail the job unless the environment's configuration is clean
#                            (GET /api/environments/<project-slug>/<environment-name>/check:
#                            200 clean, 409 hygiene errors)
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

# Further steps (recording the deployment) are added below as their own functions.

case "${1:-check}" in
  check) check ;;
  *) die "unknown step ${1}; known: check" ;;
esac
