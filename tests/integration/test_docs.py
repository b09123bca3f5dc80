"""The docs are the single source and stay true: every destination type has
its page under docs/destinations/ with a JSON example body that parses and
names that type; README's links to docs/ resolve; .dev/readme/ is gone; the
example bodies of the types that need no remote server are accepted by the
running service."""
import json
import re

from conftest import REPO, Api, make_token, new_org, fresh_dir

DOCS = REPO / "docs" / "destinations"
PAGES = {"local": ["local"], "s3": ["s3"], "gcs": ["gcs"],
         "azure_blob": ["azure_blob"], "sftp": ["sftp"], "ftp": ["ftp"],
         "webdav": ["webdav"], "oauth": ["google_drive", "onedrive"]}


def example_bodies(page):
    text = (DOCS / (page + ".md")).read_text()
    bodies = [json.loads(m) for m in
              re.findall(r"<<'EOF'\n(.*?)\nEOF", text, re.S)]
    bodies += [json.loads(m) for m in
               re.findall(r"A OneDrive body: `(.*?)`", text, re.S)]
    return bodies


def test_one_page_per_type_with_an_example():
    assert not (REPO / ".dev" / "readme").exists()
    for page, types in PAGES.items():
        bodies = example_bodies(page)
        assert sorted(b["destinationType"] for b in bodies) == sorted(types)
        for b in bodies:
            assert set(b) == {"name", "destinationType", "config"}, b


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)\)", readme)
    assert len(links) >= 9
    for link in links:
        assert (REPO / link).exists(), link
    # No per-type guide is left in the README (docs/destinations/ has them:
    # the IAM policy, the host key recipe); the README's table only names
    # what each type reports.
    assert '"Statement"' not in readme and "ssh-keyscan" not in readme


def test_local_example_is_accepted(env):
    body = example_bodies("local")[0]
    org = new_org()
    body["config"]["path"] = fresh_dir(env, org)
    api = Api(env["BACKUPD_URL"], make_token(env, org=org))
    r = api.post("/backup-destinations", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["lastTest"]["ok"] is True
