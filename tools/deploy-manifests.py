#!/usr/bin/python3
"""Writes deploy/kubernetes/ from the examples' manifests: the same pods, with `image:` set.

    tools/deploy-manifests.py            # rewrite deploy/kubernetes/
    tools/deploy-manifests.py --check    # exit 1 if deploy/kubernetes/ is not what it would write

Each container gets an image built by deploy/Dockerfile: `tender:dev` when it runs tender and
needs no file of the repository, `tender-examples:dev` (tender, the examples' apps and
examples/ in its working directory) otherwise. What tender pod gives pods that Kubernetes gives
only through other objects is added beside them, leaving the pods as they are:
- a Deployment whose replicas are addressed as `NAME-N.NAME` becomes a StatefulSet behind a
  headless Service `NAME` (tender resolves those names for a Deployment's replicas);
- a bare Pod addressed by its name from another pod gets a Service of that name, selecting the
  pod's labels, on its container ports.
tests/examples/test_deploy.py checks that both trees hold the same pods apart from `image`.
"""
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENDER_IMAGE = "tender:dev"
EXAMPLES_IMAGE = "tender-examples:dev"


def manifests():
    """Every examples/DIR/FILE.yaml that holds Kubernetes objects."""
    root = os.path.join(REPO, "examples")
    for d in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, d)):
            continue
        for f in sorted(os.listdir(os.path.join(root, d))):
            if not f.endswith(".yaml"):
                continue
            with open(os.path.join(root, d, f), encoding="utf-8") as fh:
                docs = [doc for doc in yaml.safe_load_all(fh) if doc]
            if docs and all(isinstance(doc, dict) and "kind" in doc for doc in docs):
                yield d, f, docs


def image_for(container):
    words = list(container.get("command", [])) + list(container.get("args", []))
    if words and words[0] == "tender" and not any("examples/" in str(w) for w in words):
        return TENDER_IMAGE
    return EXAMPLES_IMAGE


def with_images(spec):
    for key in ("initContainers", "containers"):
        for c in spec.get(key, []):
            items = list(c.items())
            c.clear()
            c["name"] = dict(items)["name"]
            c["image"] = image_for(dict(items))
            for k, v in items:
                if k not in ("name", "image"):
                    c[k] = v


def addressed(text, pattern):
    return re.search(pattern, text) is not None


def convert(docs, text):
    out = []
    for doc in docs:
        kind = doc.get("kind")
        name = doc.get("metadata", {}).get("name", "")
        if kind == "Deployment":
            with_images(doc["spec"]["template"]["spec"])
            if addressed(text, r"\b%s-\d+\.%s\b" % (re.escape(name), re.escape(name))):
                labels = doc["spec"]["template"]["metadata"]["labels"]
                out.append({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name},
                    "spec": {"clusterIP": "None", "selector": dict(labels),
                             "publishNotReadyAddresses": True},
                })
                spec = {"serviceName": name}
                spec.update({k: v for k, v in doc["spec"].items() if k != "strategy"})
                doc = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                       "metadata": doc["metadata"], "spec": spec}
        elif kind == "Pod":
            with_images(doc["spec"])
            others = text.replace("name: %s\n" % name, "")
            if addressed(others, r"(//|\b)%s:\d+" % re.escape(name)):
                labels = doc.get("metadata", {}).get("labels")
                ports = [p for c in doc["spec"].get("containers", []) + doc["spec"].get(
                    "initContainers", []) for p in c.get("ports", [])]
                if not labels or not ports:
                    raise SystemExit("%s is reached by name: give it labels and containerPorts"
                                     % name)
                out.append({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name},
                    "spec": {"selector": dict(labels), "ports": [
                        {"name": p.get("name", "p%d" % p["containerPort"]),
                         "port": p["containerPort"], "targetPort": p["containerPort"]}
                        for p in ports]},
                })
        out.append(doc)
    return out


def render(d, f, docs):
    with open(os.path.join(REPO, "examples", d, f), encoding="utf-8") as fh:
        text = fh.read()
    head = ("# examples/%s/%s for Kubernetes (1.29 or later: native sidecars), with images from\n"
            "# deploy/Dockerfile. Written by tools/deploy-manifests.py; edit the example instead.\n"
            % (d, f))
    body = yaml.safe_dump_all(convert(docs, text), sort_keys=False, width=100)
    return head + body


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    wanted = set()
    for d, f, docs in manifests():
        path = os.path.join(REPO, "deploy", "kubernetes", d, f)
        wanted.add(path)
        text = render(d, f, docs)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
    root = os.path.join(REPO, "deploy", "kubernetes")
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            if path not in wanted:
                stale.append(path)
                if not check:
                    os.remove(path)
    if check and stale:
        print("deploy/kubernetes is stale (run tools/deploy-manifests.py): "
              + ", ".join(os.path.relpath(p, REPO) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
