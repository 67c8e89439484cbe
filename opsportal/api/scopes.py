"""What a token may do. A token acts as its owner *and* within its scopes: a request needs the
scope its endpoint names and the owner's permission the service checks (both, never either)."""

READ = "read"
DEPLOYMENTS_WRITE = "deployments:write"
ENV_CHECK = "env:check"
ENV_IMPORT = "env:import"
RUNS_WRITE = "runs:write"

SCOPES: dict[str, str] = {
    READ: "Read projects, environments, the inventory (no secret values), hygiene, change "
    "requests, runs, import jobs, deployments and audit events",
    DEPLOYMENTS_WRITE: "Record deployments",
    ENV_CHECK: "Run the configuration health check of an environment (the CI gate)",
    ENV_IMPORT: "Import an env file into an environment (dry run or apply)",
    RUNS_WRITE: "Start runs of runbooks",
}
# A request authorised by one of these is audited: the service's own events name the token
# ("alice via token 12"), and a request that records none gets an ``api.token.used`` event.
WRITE_SCOPES = frozenset({DEPLOYMENTS_WRITE, ENV_IMPORT, RUNS_WRITE})


def normalise(scopes) -> list[str]:
    """Known scopes, de-duplicated, in the order of :data:`SCOPES`; raises ``ValueError``."""
    wanted = {s.strip() for s in scopes if s and s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ValueError(f"Unknown scope {', '.join(unknown)}; choose from: {', '.join(SCOPES)}.")
    return [s for s in SCOPES if s in wanted]
