"""The UI over plain HTTP: sessions, CSRF, roles, masking, languages, errors, segment actions."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from tests.ui.conftest import ADMIN_TOKEN, Served

from profilo.access import update_user

Login = Callable[[str, str], httpx.Client]


@pytest.fixture
def login(served: Served) -> Iterator[Login]:
    """Log in as a user; every client opened is closed after the test."""
    opened: list[httpx.Client] = []

    def _login(user: str, password: str) -> httpx.Client:
        client = httpx.Client(base_url=served.url, follow_redirects=False, timeout=60)
        opened.append(client)
        return _log_in(client, user, password)

    yield _login
    for client in opened:
        client.close()


def _log_in(client: httpx.Client, user: str, password: str) -> httpx.Client:
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/ui/login",
        data={"username": user, "password": password, "csrf": token.group(1), "next": "/ui/"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    return client


def _csrf(client: httpx.Client, page: str = "/ui/segments/new") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_session_and_log_in_goes_back(served: Served) -> None:
    with httpx.Client(base_url=served.url, follow_redirects=False) as anonymous:
        assert anonymous.get("/").headers["location"] == "/ui/"
        answer = anonymous.get("/ui/sources?x=1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=/ui/sources%3Fx%3D1"
        # a forged cookie is no session
        anonymous.cookies.set("profilo_session", "abc.def")
        assert anonymous.get("/ui/").status_code == 303
        # the log-in form refuses a post without its CSRF token
        refused = anonymous.post("/ui/login", data={"username": "demo", "password": "demo"})
        assert refused.status_code == 303 and "profilo_session=" not in str(refused.headers)


def test_session_cookie_is_http_only_and_log_in_never_leaves_the_ui(
    served: Served, login: Login
) -> None:
    client = login("viewer", "viewer")
    client.cookies.clear()
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/ui/login",
        data={
            "username": "demo",
            "password": "demo",
            "csrf": token.group(1),
            "next": "https://evil.example/",
        },
    )
    assert answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    # logging out ends the session for good
    client.post("/ui/logout", data={"csrf": _csrf(client, "/ui/")})
    assert client.get("/ui/").status_code == 303


def test_every_page_answers(served: Served, login: Login) -> None:
    client = login("demo", "demo")
    pid = served.customer["profile_id"]
    for path in (
        "/ui/",
        "/ui/profiles",
        f"/ui/profiles?q={served.customer['last_name'][:3]}",
        f"/ui/profiles/{pid}",
        "/ui/segments",
        "/ui/segments/new",
        "/ui/segments/vip",
        "/ui/sources",
        "/ui/sources/crm_contacts",
        "/ui/destinations",
        "/ui/privacy",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
    missing = client.get("/ui/profiles/prf_nobody")
    assert missing.status_code == 404 and "<html" in missing.text
    assert client.get("/ui/sources/nope").status_code == 404
    # any identifier finds its profile, the id too
    assert pid in client.get(f"/ui/profiles?q={pid}").text


def test_state_changes_need_the_csrf_token(served: Served, login: Login) -> None:
    client = login("demo", "demo")
    rule = {"rule": {"identity": "email"}}
    assert client.post("/ui/api/estimate", json=rule).status_code == 403
    assert (
        client.post("/ui/api/estimate", json=rule, headers={"X-CSRF-Token": "wrong"}).status_code
        == 403
    )
    ok = client.post("/ui/api/estimate", json=rule, headers={"X-CSRF-Token": _csrf(client)})
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert client.post("/ui/segments/vip/rename", data={"title": "x"}).status_code == 403


def test_estimates_report_problems_with_their_path(served: Served, login: Login) -> None:
    client = login("demo", "demo")
    headers = {"X-CSRF-Token": _csrf(client)}
    bad = client.post(
        "/ui/api/estimate",
        json={"rule": {"all": [{"identity": "email"}, {"trait": "contry", "value": "FR"}]}},
        headers=headers,
    ).json()
    assert bad["ok"] is False
    assert bad["problems"][0][0] == "rule.all[1].trait"
    assert "did you mean country" in bad["problems"][0][1]
    named = client.post(
        "/ui/api/segments",
        json={"name": "Bad Name", "rule": {"identity": "email"}},
        headers=headers,
    )
    assert named.status_code == 422 and "invalid segment name" in named.json()["detail"]


def test_rename_and_archive_by_form(served: Served, login: Login) -> None:
    client = login("demo", "demo")
    token = _csrf(client)
    headers = {"X-CSRF-Token": token}
    saved = client.post(
        "/ui/api/segments",
        json={"name": "with_email", "title": "", "rule": {"identity": "email"}},
        headers=headers,
    ).json()
    assert saved == {"ok": True, "url": "/ui/segments/with_email"}
    api = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    members = client.get("/segments/with_email/size", headers=api).json()["members"]
    assert members > 0
    client.post("/ui/segments/with_email/rename", data={"csrf": token, "title": "Reachable"})
    assert "Reachable" in client.get("/ui/segments").text
    client.post("/ui/segments/with_email/archive", data={"csrf": token})
    archived = client.get("/segments/with_email/size", headers=api).json()
    assert archived["members"] == 0
    client.post("/ui/segments/with_email/archive", data={"csrf": token, "restore": "1"})
    restored = client.get("/segments/with_email/size", headers=api).json()
    assert restored["members"] == members


def test_viewer_may_look_but_not_change_nor_read_raw_rows(served: Served, login: Login) -> None:
    client = login("viewer", "viewer")
    token = _csrf(client)
    refused = client.post(
        "/ui/api/segments",
        json={"name": "mine", "rule": {"identity": "email"}},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403
    assert client.post("/ui/segments/vip/archive", data={"csrf": token}).status_code == 403
    preview = client.post(
        "/ui/api/estimate", json={"rule": {"identity": "email"}}, headers={"X-CSRF-Token": token}
    ).json()
    emails = [m["traits"]["email"] for m in preview["members"] if "email" in m["traits"]]
    assert emails and all("•••" in e for e in emails)
    source = client.get("/ui/sources/crm_contacts").text
    assert "hidden for your role" in source or "Nothing in quarantine" in source
    page = client.get(f"/ui/profiles/{served.customer['profile_id']}").text
    assert served.customer["email"] not in page


def test_each_user_reads_their_language(served: Served, login: Login) -> None:
    update_user(served.store, "viewer", language="fr")
    try:
        client = login("viewer", "viewer")
        page = client.get("/ui/")
        assert 'lang="fr"' in page.text and "Vue d'ensemble" in html.unescape(page.text)
        profiles = int(served.store.scalar(served.store.table("profiles").count()))
        events = int(served.store.scalar(served.store.table("events").count()))
        assert f"{events:,}".replace(",", "\u202f") in page.text  # French digit grouping
        assert f">{profiles}<" in page.text or f"{profiles:,}".replace(",", "\u202f") in page.text
        # and may switch back
        client.post("/ui/language", data={"csrf": _csrf(client, "/ui/"), "language": "en"})
        assert "Overview" in client.get("/ui/").text
    finally:
        update_user(served.store, "viewer", language="en")


@pytest.mark.parametrize("path", ["/static/ui.css", "/static/builder.js"])
def test_assets_are_served_by_profilo(served: Served, path: str) -> None:
    with httpx.Client(base_url=served.url) as client:
        answer = client.get(path)
    assert answer.status_code == 200 and len(answer.content) > 1000
