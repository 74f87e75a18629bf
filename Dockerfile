# initjob: make a PostgreSQL schema match the SQL shipped with a release, before the release starts.
#
#   docker build -t initjob .                                   # the tool, no SQL in it
#   docker build -t initjob:pgdump --build-arg WITH_PG_DUMP=true .   # + pg_dump for INITJOB_BACKUP_DIR
#   docker build -t initjob:0.1.0-lint --build-arg WITH_LINT=true .  # + squawk for `initjob lint` (CI)
#
# Ship your SQL with a two-line image (examples/downstream/Dockerfile) or mount it at /app/sql.
# The image has no SQL of its own on purpose: `COPY sql /app/sql` in a downstream image adds to
# what is already there, so any SQL baked in here would be applied to every team's database.
#
# Build arguments:
#   BASE_IMAGE    a Debian-based Python >= 3.11 image with pip (python:3.12-slim-trixie)
#   WITH_PG_DUMP  true: install the base's Debian postgresql-client (trixie: 17, bookworm: 15).
#                 pg_dump refuses a server newer than itself: see docs/deployment.md.
#   WITH_LINT     true: the `-lint` variant, with squawk (the [lint] extra, a 25 MB binary) so that
#                 `initjob lint` works in the image; the default image for init containers has none
#                 (docs/lint.md says why).
#   PIP_INDEX_URL / PIP_NO_INDEX / PIP_FIND_LINKS
#                 passed to pip in the build stage only: a mirror, or an offline wheelhouse mounted
#                 with `podman build -v DIR:/wheelhouse:ro --build-arg PIP_NO_INDEX=1
#                 --build-arg PIP_FIND_LINKS=/wheelhouse` (what .ci/container-checks.sh does).
# No BuildKit-only syntax (RUN --mount, COPY --chmod): the file builds with docker, buildah and podman.

ARG BASE_IMAGE=python:3.12-slim-trixie
# checkov:skip=CKV_DOCKER_7: the tag is in ARG BASE_IMAGE above, which checkov does not resolve
# checkov:skip=CKV_DOCKER_2: a run-to-completion job has no health to check; its exit code is the verdict

# ---- build: wheels for initjob and its dependencies, installed into a venv without pip ----
FROM ${BASE_IMAGE} AS build
ARG WITH_LINT=false
ARG PIP_INDEX_URL
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# README and LICENSE become the wheel's metadata when present (a wildcard may match nothing).
COPY pyproject.toml README* LICENSE* ./
COPY initjob/ initjob/
# hadolint ignore=DL3013
RUN extra=""; if [ "${WITH_LINT}" = "true" ]; then extra="[lint]"; fi \
 && python3 -m pip wheel --wheel-dir /wheels ".${extra}" \
 && python3 -m venv --without-pip /opt/initjob \
 && python3 -m pip --python /opt/initjob/bin/python install --no-index --find-links /wheels "initjob${extra}" \
 && python3 -m compileall -q /opt/initjob/lib \
 && /opt/initjob/bin/initjob --version \
 && if [ "${WITH_LINT}" = "true" ]; then /opt/initjob/bin/squawk --version; fi

# ---- runtime: the base, the venv, a numeric non-root user ----
FROM ${BASE_IMAGE}
ARG WITH_PG_DUMP=false
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="initjob" \
      org.opencontainers.image.description="Make a PostgreSQL schema match the SQL shipped with a release, once, before the release starts (initContainer, pre-deploy Job, compose job, CI step)." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/initjob" \
      org.opencontainers.image.documentation="https://github.com/example/initjob/blob/main/docs/deployment.md"

# pg_dump for INITJOB_BACKUP_DIR, opt-in: the client tools (and Perl) add ~60 MB few users need.
# Unpinned on purpose: the major comes from the base's Debian release (see the header).
# hadolint ignore=DL3008
RUN if [ "${WITH_PG_DUMP}" = "true" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends postgresql-client \
      && apt-get clean \
      && rm -rf /var/lib/apt/lists/* \
      && pg_dump --version; \
    fi \
 && groupadd --gid 10001 initjob \
 && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init --home-dir /nonexistent \
            --shell /usr/sbin/nologin initjob \
 && mkdir -p /app

COPY --from=build /opt/initjob /opt/initjob

# Read-only root filesystem: no .pyc writes (they were compiled at build time), no HOME needed.
ENV PATH=/opt/initjob/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    INITJOB_SQL_DIR=/app/sql
# /app is made above, not by WORKDIR alone: buildah leaves that to the runtime, which cannot create
# it on a read-only root filesystem. The SQL goes to /app/sql (COPY or a mounted volume).
WORKDIR /app
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
# Any other UID works too (OpenShift's random UIDs): nothing in the image is written at run time.
USER 10001:10001
ENTRYPOINT ["initjob"]
CMD ["run"]
