"""Record collections across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "Records"), with requests against two `switchboard serve`
processes sharing one PostgreSQL server the test starts.

- A record created on A is viewed and listed on B (each change is announced in its transaction and every
  instance reads the record again).
- A change is decided on the record as the database holds it: a stale `If-Match` on either instance is
  412, an update without one applies on top of the other instance's, and concurrent updates through both
  instances lose none.
- A change's event reaches the subscribers of the instance it was made on.

Collections are read at start: each test makes its collection on A before B starts.
"""

from __future__ import annotations

import json
import threading
import time

from interop import unique
from mqtt_client import V311, Paho
from test_records import make_collection, pb_error
from test_storage_postgres import postgres  # noqa: F401  (the fixture)

OPEN = {"listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": ""}


def two_instances(make_server, postgres):  # noqa: F811
    url = postgres.url + "&shared_instances=true"
    a = make_server(args=["--storage", url])
    name = unique("tasks")
    make_collection(a, name, **OPEN)  # answered once stored
    b = make_server(args=["--storage", url])
    return a, b, f"/api/collections/{name}/records", name


def eventually(probe, what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


def test_a_record_changed_on_either_instance_is_the_databases_on_both(make_server, postgres):  # noqa: F811
    a, b, base, name = two_instances(make_server, postgres)
    events_on_b = Paho(b.mqtt_port, V311)
    events_on_b.subscribe(f"collections/{name}/+", qos=1)

    created = a.post(base, json={"title": "t0"}).json()
    url = f"{base}/{created['id']}"
    seen = eventually(lambda: (r := b.get(url)).status_code == 200 and r.json(), "B never saw A's record")
    assert seen == created
    assert [item["id"] for item in b.get(base).json()["items"]] == [created["id"]]

    # B updates A's record at its version: 200, version 2; its event reaches B's subscriber.
    r = b.http("PATCH", url, json={"done": True}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["title"] == "t0"
    event = json.loads(events_on_b.get().payload)
    assert event["action"] == "update" and event["record"]["version"] == 2

    # A decides on the database's record, not its copy: a stale If-Match is 412 at once ...
    body = pb_error(a.http("PATCH", url, json={"done": False}, headers={"If-Match": '"1"'}), 412)
    assert "version 2" in body["message"]
    # ... and an update without one goes on top of B's.
    r = a.http("PATCH", url, json={"title": "t0a"})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["done"], r.json()["title"]) == (3, True, "t0a")
    body = pb_error(b.http("PATCH", url, json={"done": False}, headers={"If-Match": '"2"'}), 412)
    assert "version 3" in body["message"]
    eventually(lambda: b.get(url).json()["version"] == 3, "B's copy never reached version 3")
    assert b.get(base).json()["items"][0]["title"] == "t0a"

    # Updates through both instances at once: none lost, every version used once.
    def patch(server, field: str) -> None:
        r = server.http("PATCH", url, json={field: True})
        assert r.status_code == 200, r.text

    threads = [threading.Thread(target=patch, args=((a, b)[i % 2], f"f{i}")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = eventually(lambda: (r := b.get(url).json())["version"] == 23 and r, "B never saw every update")
    assert all(final[f"f{i}"] is True for i in range(20)), final
    eventually(lambda: a.get(url).json() == final, "A's copy never caught up")
    stored = postgres.sql(f"SELECT version FROM record WHERE collection = '{name}' AND id = '{created['id']}'")
    assert stored == "23"

    # Deleted on A: gone on B, and B's delete of it is 404; a stale If-Match delete is 412 first.
    pb_error(b.http("DELETE", url, headers={"If-Match": "22"}), 412)
    assert a.http("DELETE", url, headers={"If-Match": "23"}).status_code == 204
    pb_error(b.http("DELETE", url), 404)
    eventually(lambda: b.get(url).status_code == 404, "B still shows A's deleted record")
    assert b.get(f"/api/collections/{name}").json()["records"] == 0
    events_on_b.disconnect()


def test_a_collection_made_or_deleted_on_a_is_known_on_b(make_server, postgres):  # noqa: F811
    """A collection's own changes are announced too (`switchboard_record` with its name alone): one A
    makes after B started is taken up on B with its records, and B's records in it reach A; deleted on
    A, it is 404 on B."""
    url = postgres.url + "&shared_instances=true"
    a, b = make_server(args=["--storage", url]), make_server(args=["--storage", url])
    name = unique("notes")
    base = f"/api/collections/{name}/records"
    make_collection(a, name, **OPEN)
    first = a.post(base, json={"title": "n0"}).json()
    page = eventually(lambda: (r := b.get(base)).status_code == 200 and r.json(), "B never learned of the collection")
    assert [item["id"] for item in page["items"]] in ([], [first["id"]])
    eventually(lambda: b.get(f"{base}/{first['id']}").status_code == 200, "B never saw A's record")
    made = b.post(base, json={"title": "n1"})
    assert made.status_code == 200, made.text
    eventually(lambda: a.get(f"{base}/{made.json()['id']}").status_code == 200, "A never saw B's record")
    assert b.get(f"/api/collections/{name}").json()["records"] == 2
    assert a.http("DELETE", f"/api/collections/{name}").status_code == 204
    eventually(lambda: b.get(base).status_code == 404, "B still has the deleted collection")
    pb_error(b.post(base, json={"title": "late"}), 404)
