"""deploy/kubernetes/ holds the examples' manifests for Kubernetes: the same pods as the local
ones apart from `image`, every container with an image, and only Services added, each selecting
pods that exist (a StatefulSet's headless one named by it)."""
import copy
import os
import subprocess
import unittest

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
DEPLOY = os.path.join(REPO, "deploy", "kubernetes")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def local_manifests():
    for d in sorted(os.listdir(EXAMPLES)):
        if os.path.isdir(os.path.join(EXAMPLES, d)):
            for f in sorted(os.listdir(os.path.join(EXAMPLES, d))):
                if f.endswith(".yaml"):
                    docs = load(os.path.join(EXAMPLES, d, f))
                    if docs and all(isinstance(x, dict) and "kind" in x for x in docs):
                        yield os.path.join(d, f), docs


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def pods(docs):
    """name -> (replicas, labels, spec without images) of every pod template in `docs`."""
    out = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Pod":
            meta, spec, replicas = doc["metadata"], doc["spec"], None
        elif kind in ("Deployment", "StatefulSet"):
            meta = doc["spec"]["template"].get("metadata", {})
            spec, replicas = doc["spec"]["template"]["spec"], doc["spec"].get("replicas", 1)
        else:
            continue
        spec = copy.deepcopy(spec)
        for c in containers(spec):
            c.pop("image", None)
        out[name] = (replicas, meta.get("labels", {}), spec)
    return out


class Deploy(unittest.TestCase):
    def test_every_example_has_its_kubernetes_twin_with_the_same_pods(self):
        found = list(local_manifests())
        self.assertGreaterEqual(len(found), 8, [f for f, _ in found])
        for rel, local in found:
            with self.subTest(manifest=rel):
                path = os.path.join(DEPLOY, rel)
                self.assertTrue(os.path.exists(path), "no deploy/kubernetes/%s" % rel)
                remote = load(path)
                self.assertEqual(pods(remote), pods(local))
                for doc in local:
                    for c in containers(doc.get("spec", {}).get("template", {}).get(
                            "spec", doc.get("spec", {}))):
                        self.assertNotIn("image", c, "%s: %s sets an image: leave it to "
                                         "deploy/" % (rel, c["name"]))
                self.check_kubernetes_side(rel, remote)

    def check_kubernetes_side(self, rel, docs):
        templates = pods(docs)
        stateful = {d["metadata"]["name"]: d["spec"]["serviceName"]
                    for d in docs if d["kind"] == "StatefulSet"}
        for doc in docs:
            kind = doc["kind"]
            self.assertIn(kind, ("Pod", "Deployment", "StatefulSet", "Service"), rel)
            spec = doc["spec"] if kind == "Pod" else doc["spec"].get("template", {}).get("spec")
            for c in containers(spec or {}):
                self.assertTrue(c.get("image"), "%s: %s has no image" % (rel, c["name"]))
            if kind == "Service":
                selector = doc["spec"]["selector"]
                chosen = [n for n, (_, labels, _) in templates.items()
                          if all(labels.get(k) == v for k, v in selector.items())]
                self.assertTrue(chosen, "%s: Service %s selects no pod" % (rel, doc["metadata"]))
                if doc["spec"].get("clusterIP") == "None":
                    self.assertIn(doc["metadata"]["name"], stateful.values(), rel)
        for name, service in stateful.items():
            self.assertTrue(any(d["kind"] == "Service" and d["metadata"]["name"] == service
                                for d in docs), "%s: StatefulSet %s has no Service" % (rel, name))

    def test_nothing_in_deploy_without_an_example(self):
        local = {rel for rel, _ in local_manifests()}
        for dirpath, _, files in os.walk(DEPLOY):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), DEPLOY)
                self.assertIn(rel, local, "deploy/kubernetes/%s has no example" % rel)

    def test_the_generator_would_write_what_is_there(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "deploy-manifests.py"),
                            "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
