"""Helpers for .ci/container-checks.sh: the parts that are easier in Python than in bash.

    pgserver REPO STATEFILE      a throwaway PostgreSQL (devtools/pgserver.py) until SIGTERM
    policy REPO ENVFILE          what the schema validators cannot see: restricted pod security,
                                 podFailurePolicy codes, secrets as files, env names initjob knows
    kube-pod REPO OUT ...        the Deployment's pod template as a Pod that `podman kube play` runs
    workflow REPO FILE           run the GitHub Actions example's `run:` steps here, in order
    first-line N CMD...          run CMD N times: seconds to its first stderr line and to its exit

Only the standard library and PyYAML (which yamllint brings into the tools venv).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# pgserver


def pgserver(repo: str, statefile: str) -> int:
    """Start devtools' throwaway server, write its URL to STATEFILE, stop it cleanly on SIGTERM."""
    sys.path.insert(0, repo)
    from devtools.pgserver import running_server

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with running_server() as srv:
        tmp = statefile + ".tmp"
        Path(tmp).write_text(
            json.dumps({"url": srv.url(), "port": srv.port, "major": srv.major, "bindir": str(srv.bindir)})
        )
        os.rename(tmp, statefile)
        while True:
            time.sleep(3600)


# ---------------------------------------------------------------------------------------------
# policy

FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        FAILURES.append(what)


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if doc.get("kind") == "Pod":
        return doc["spec"]
    return None


# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted, v1.30)
_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _restricted(name: str, spec: dict[str, Any]) -> None:
    pod_sc = spec.get("securityContext", {})
    check(not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), f"{name}: no host namespaces")
    for vol in spec.get("volumes", []):
        kinds = set(vol) - {"name"}
        check(kinds <= _RESTRICTED_VOLUMES, f"{name}: volume {vol['name']} is of a restricted-profile type")
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    for c in containers:
        sc = c.get("securityContext", {})
        where = f"{name}/{c['name']}"
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        check(non_root is True and uid != 0, f"{where}: runAsNonRoot and not UID 0")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
        check(not sc.get("privileged"), f"{where}: not privileged")
        caps = sc.get("capabilities", {})
        check(
            "ALL" in caps.get("drop", []) and set(caps.get("add", [])) <= {"NET_BIND_SERVICE"},
            f"{where}: capabilities drop ALL",
        )
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        check(seccomp in ("RuntimeDefault", "Localhost"), f"{where}: seccomp RuntimeDefault")
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
        res = c.get("resources", {})
        check(
            all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory")),
            f"{where}: cpu and memory requests and limits",
        )


def _initjob_container(name: str, c: dict[str, Any], spec: dict[str, Any], known_env: set[str], image_uid: int) -> None:
    where = f"{name}/{c['name']}"
    pod_sc = spec.get("securityContext", {})
    uid = c.get("securityContext", {}).get("runAsUser", pod_sc.get("runAsUser"))
    check(uid == image_uid, f"{where}: runAsUser {uid} is the image's USER {image_uid}")
    check(c.get("terminationMessagePolicy") == "FallbackToLogsOnError", f"{where}: FallbackToLogsOnError")
    args = c.get("args") or ["run"]
    check(args[0] in ("run", "verify"), f"{where}: command is run or verify")
    env = {e["name"]: e for e in c.get("env", [])}
    unknown = sorted(
        n
        for n in env
        if n not in known_env
        and not n.startswith("PG")
        and not any(f"$({n})" in str(e.get("value", "")) for e in env.values())
    )
    check(not unknown, f"{where}: every environment variable is one initjob reads (unknown: {unknown})")
    check("DATABASE_URL" not in env, f"{where}: no DATABASE_URL in the manifest (a Secret file instead)")
    url_file = env.get("DATABASE_URL_FILE", {}).get("value", "")
    mounts = {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])}
    mount = mounts.get(os.path.dirname(url_file))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    secret = volumes.get(mount["name"], {}).get("secret") if mount else None
    check(
        secret is not None and bool(mount and mount.get("readOnly")),
        f"{where}: DATABASE_URL_FILE {url_file} lies in a read-only Secret volume",
    )
    if secret and secret.get("items"):
        paths = [i["path"] for i in secret["items"]]
        check(os.path.basename(url_file) in paths, f"{where}: the Secret item path matches DATABASE_URL_FILE")
    if secret:
        # Secret files belong to root; the group is fsGroup when set. UID 10001 must read the file.
        mode = secret.get("defaultMode", 0o644)
        readable = bool(mode & 0o004) or (bool(mode & 0o040) and pod_sc.get("fsGroup") is not None)
        check(readable, f"{where}: the Secret file (mode {mode:o}) is readable by the container's user")
    for n in ("USE_MIGRATIONS", "INITJOB_ENSURE_DATABASE", "INITJOB_ALLOW_DESTRUCTIVE"):
        if n in env:
            check(
                str(env[n].get("value", "")).lower() in {"true", "false", "1", "0", "yes", "no", "on", "off"},
                f"{where}: {n} is a boolean initjob accepts",
            )


def _job(name: str, doc: dict[str, Any]) -> None:
    spec = doc["spec"]
    pod = spec["template"]["spec"]
    check(pod.get("restartPolicy") == "Never", f"{name}: restartPolicy Never (podFailurePolicy needs it)")
    for k in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        if k == "backoffLimit" and "backoffLimitPerIndex" in spec:
            k = "backoffLimitPerIndex"
        check(isinstance(spec.get(k), int) and spec[k] > 0, f"{name}: {k} set")
    indexed = spec.get("completionMode") == "Indexed"
    fail_action = "FailIndex" if indexed and "backoffLimitPerIndex" in spec else "FailJob"
    rules = spec.get("podFailurePolicy", {}).get("rules", [])
    names = {c["name"] for c in pod["containers"]}
    codes: dict[str, set[int]] = {}
    for r in rules:
        check(r.get("action") in ("FailJob", "FailIndex", "Ignore", "Count"), f"{name}: action {r.get('action')} valid")
        oe = r.get("onExitCodes")
        if oe:
            check(oe.get("operator") in ("In", "NotIn"), f"{name}: operator {oe.get('operator')} valid")
            check(oe.get("containerName") in names, f"{name}: rule names container {oe.get('containerName')}")
            if oe.get("operator") == "In":
                codes.setdefault(r["action"], set()).update(oe.get("values", []))
    check(codes.get(fail_action) == {2, 3, 5}, f"{name}: {fail_action} at once on exit 2, 3, 5")
    retried = {4, 6} - codes.get(fail_action, set()) - codes.get("FailJob", set())
    check(retried == {4, 6}, f"{name}: exit 4 and 6 are retried")
    ann = doc["metadata"].get("annotations", {})
    # INITJOB_PHASE=contract runs after the rollout (docs/zero-downtime.md): post-deploy hooks.
    phases = {e.get("value") for c in pod["containers"] for e in c.get("env", []) if e["name"] == "INITJOB_PHASE"}
    when, argo = ("post", "PostSync") if "contract" in phases else ("pre", "PreSync")
    check(
        set(ann.get("helm.sh/hook", "").split(",")) >= {f"{when}-install", f"{when}-upgrade"},
        f"{name}: Helm {when}-install,{when}-upgrade hook",
    )
    check(ann.get("argocd.argoproj.io/hook") == argo, f"{name}: Argo CD {argo} hook")


def policy(repo: str, env_file: str) -> int:
    root = Path(repo)
    known_env = set(Path(env_file).read_text().split())
    print(f"initjob reads {len(known_env)} environment variables: {' '.join(sorted(known_env))}")
    check(
        {"DATABASE_URL", "DATABASE_URL_FILE", "USE_MIGRATIONS", "INITJOB_SQL_DIR"} <= known_env,
        "the image's `initjob run --help` names the SPEC's variables",
    )
    image_uid = int(re.search(r"^USER\s+(\d+)", (root / "Dockerfile").read_text(), re.M).group(1))  # type: ignore[union-attr]
    for path in sorted((root / "k8s").glob("*.yaml")):
        for doc in _yaml_docs(path):
            name = f"{path.name}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            spec = _pod_spec(doc)
            if spec is None:
                continue
            _restricted(name, spec)
            check(spec.get("automountServiceAccountToken") is False, f"{name}: no service account token")
            ij = [c for c in spec.get("initContainers", []) + spec.get("containers", []) if c["name"] == "initjob"]
            check(len(ij) == 1, f"{name}: has one container named initjob")
            for c in ij:
                _initjob_container(name, c, spec, known_env, image_uid)
            if doc["kind"] == "Job":
                _job(name, doc)
            if doc["kind"] == "Deployment":
                check(
                    any(c["name"] == "initjob" for c in spec.get("initContainers", [])),
                    f"{name}: initjob is an initContainer",
                )
    _compose(root, known_env)
    _workflow(root, known_env)
    print(f"policy: {len(FAILURES)} failed")
    return 1 if FAILURES else 0


def _compose(root: Path, known_env: set[str]) -> None:
    import yaml

    doc = yaml.safe_load((root / "compose.yaml").read_text())
    s = doc["services"]
    ij = s["initjob"]
    check(ij["depends_on"]["postgres"]["condition"] == "service_healthy", "compose: initjob waits for postgres healthy")
    check("pg_isready" in " ".join(s["postgres"]["healthcheck"]["test"]), "compose: postgres healthcheck pg_isready")
    app_deps = s["app"]["depends_on"]
    check(
        app_deps["initjob"]["condition"] == "service_completed_successfully",
        "compose: app waits for initjob service_completed_successfully",
    )
    check(ij.get("read_only") is True and ij.get("cap_drop") == ["ALL"], "compose: initjob read_only, cap_drop ALL")
    check(ij.get("restart") == "no", "compose: initjob is not restarted (a job, not a service)")
    env = ij.get("environment", {})
    unknown = sorted(n for n in env if n not in known_env and not n.startswith("PG"))
    check(not unknown, f"compose: initjob's environment names are initjob's (unknown: {unknown})")
    secrets = {k: root / v["file"] for k, v in doc["secrets"].items()}
    url_secret = env.get("DATABASE_URL_FILE", "").removeprefix("/run/secrets/")
    check(url_secret in ij.get("secrets", []) and url_secret in secrets, "compose: DATABASE_URL_FILE is a secret")
    pg_env = s["postgres"]["environment"]
    pw_secret = pg_env.get("POSTGRES_PASSWORD_FILE", "").removeprefix("/run/secrets/")
    if url_secret in secrets and pw_secret in secrets:
        from urllib.parse import urlsplit

        url = urlsplit(secrets[url_secret].read_text().strip())
        password = secrets[pw_secret].read_text().strip()
        check(
            url.password == password
            and url.username == pg_env.get("POSTGRES_USER")
            and url.path.lstrip("/") == pg_env.get("POSTGRES_DB")
            and url.hostname == "postgres",
            "compose: the URL secret matches the postgres service's user, password and database",
        )
        for f in (secrets[url_secret], secrets[pw_secret]):
            check(f.stat().st_mode & 0o004 != 0, f"compose: {f.name} is world-readable (initjob is UID 10001)")


def _workflow(root: Path, known_env: set[str]) -> None:
    for path in sorted((root / "examples").rglob("*.y*ml")):
        doc = _yaml_docs(path)[0]
        if "jobs" not in doc:
            continue
        text = path.read_text()
        # A workflow with the action (action.yml) says `command: verify` and `args: --against-schema`.
        for job in doc["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("example/initjob@"):
                    text += "\n" + " ".join([step["with"].get("command", ""), step["with"].get("args", "")])
        check(
            "verify --against-schema" in text and re.search(r"\bplan\b", text) is not None,
            f"{path.name}: runs verify --against-schema and plan",
        )
        for job in doc["jobs"].values():
            env = job.get("env", {})
            unknown = sorted(n for n in env if n not in known_env and not n.startswith(("PG", "INITJOB_IMAGE")))
            check(not unknown, f"{path.name}: job environment names are initjob's (unknown: {unknown})")


# ---------------------------------------------------------------------------------------------
# kube-pod


def kube_pod(repo: str, out: str, init_image: str, app_image: str, secret_dir: str, extra_env: list[str]) -> int:
    """The Deployment's pod, changed only where podman 4.3 or this machine needs it (printed)."""
    import yaml

    dep = next(d for d in _yaml_docs(Path(repo) / "k8s" / "deployment.yaml") if d["kind"] == "Deployment")
    tmpl = dep["spec"]["template"]
    spec = tmpl["spec"]
    spec["hostNetwork"] = True  # no CNI here; the database is on 127.0.0.1
    spec["restartPolicy"] = "Never"  # see the failure instead of a restart loop
    for c in spec["initContainers"]:
        if c["name"] == "initjob":
            c["image"] = init_image
            c["imagePullPolicy"] = "Never"
            c.setdefault("env", []).extend({"name": k, "value": v} for k, v in (e.split("=", 1) for e in extra_env))
    for c in spec["containers"]:
        c["image"] = app_image
        c["imagePullPolicy"] = "Never"
        c["command"] = ["python3", "-c", "print('APP-STARTED')"]  # a stand-in app that says it ran
        for k in ("readinessProbe", "livenessProbe", "ports"):
            c.pop(k, None)
    for v in spec["volumes"]:
        if "secret" in v:  # podman 4.3 kube play crashes on secret volumes: the same files by hostPath
            sec = v.pop("secret")
            v["hostPath"] = {"path": secret_dir, "type": "Directory"}
            for item in sec.get("items", []):
                assert (Path(secret_dir) / item["path"]).is_file(), item
    meta = {
        "name": "initjob-ci-pod",
        "labels": tmpl["metadata"]["labels"],
        # podman removes a finished init container unless told to keep it: keep its exit code
        "annotations": {"io.podman.annotations.init.container.type": "always"},
    }
    Path(out).write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, sort_keys=False)
    )
    print(
        "  pod = k8s/deployment.yaml's template; changed: hostNetwork, restartPolicy Never, local images,"
        " app command, Secret volume as hostPath (podman 4.3)" + "".join(", " + e for e in extra_env)
    )
    return 0


# ---------------------------------------------------------------------------------------------
# workflow


def workflow(repo: str, path: str, overrides: list[str]) -> int:
    """Run each `run:` step as GitHub would (bash -eo pipefail), with the job's env, then K=V overrides."""
    doc = _yaml_docs(Path(path))[0]
    rc = 0
    for job_name, job in doc["jobs"].items():
        env = {k: str(v) for k, v in job.get("env", {}).items()}
        for item in overrides:
            k, v = item.split("=", 1)
            check(k in env, f"workflow: the job sets {k}, which this run replaces")
            env[k] = v
        for step in job["steps"]:
            if "run" not in step:
                print(f"  skip {job_name}: {step.get('name') or step.get('uses')} (an action, not a command)")
                continue
            t0 = time.monotonic()
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=repo,
                env={**os.environ, **env, **step.get("env", {})},
                capture_output=True,
                text=True,
                check=False,
            )
            dt = time.monotonic() - t0
            ok = proc.returncode == 0
            print(f"  {'ok  ' if ok else 'FAIL'} {job_name}: {step.get('name')} (exit {proc.returncode}, {dt:.1f}s)")
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-4:]
            for line in tail:
                print(f"       | {line[:200]}")
            if not ok:
                rc = 1
                break
    return rc


# ---------------------------------------------------------------------------------------------
# first-line


def first_line(n: int, cmd: list[str]) -> int:
    """Seconds from exec to the first line on stderr, and to exit; median over n runs."""
    firsts: list[float] = []
    totals: list[float] = []
    for _ in range(n):
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        first = None
        buf = b""
        while first is None:
            if not sel.select(timeout=60):
                break
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                first = time.monotonic() - t0
        proc.stderr.read()
        code = proc.wait()
        totals.append(time.monotonic() - t0)
        if code != 0 or first is None:
            print(f"command failed (exit {code}): {shlex.join(cmd)}", file=sys.stderr)
            return 1
        firsts.append(first)
    print(
        json.dumps(
            {
                "runs": n,
                "first_line_s": [round(x, 3) for x in firsts],
                "first_line_median_s": round(statistics.median(firsts), 3),
                "exit_median_s": round(statistics.median(totals), 3),
            }
        )
    )
    return 0


def main(argv: list[str]) -> int:
    cmd, args = argv[0], argv[1:]
    if cmd == "pgserver":
        return pgserver(*args)
    if cmd == "policy":
        return policy(*args)
    if cmd == "kube-pod":
        repo, out, init_image, app_image, secret_dir, *extra = args
        return kube_pod(repo, out, init_image, app_image, secret_dir, extra)
    if cmd == "workflow":
        return workflow(args[0], args[1], args[2:])
    if cmd == "first-line":
        return first_line(int(args[0]), args[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
