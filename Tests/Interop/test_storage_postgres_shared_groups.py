"""Kafka REST consumer groups across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "Kafka REST consumer groups"), with `requests` against two
`switchboard serve` processes: a group is served by one instance at a time, so no partition is delivered
by members on two instances at once. Creating a member on the other instance answers the proxy's 409
40903 until the group's last member on the first is gone (deleted, expired, or its instance killed).
"""

from __future__ import annotations

from interop import unique
from test_kafka_rest import Kafka, b64
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)
from test_storage_postgres_shared import shared


def refused(kafka: Kafka, group: str, name: str) -> None:
    r = kafka.call("POST", f"/consumers/{group}", {"name": name})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error_code"] == 40903, body
    assert "served by another instance" in body["message"], body


def test_a_consumer_group_is_served_by_one_instance_at_a_time(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    group = unique("group")
    on_a.consumer(group, name="one")
    on_a.consumer(group, name="two")  # more members on the serving instance: fine
    refused(on_b, group, "three")
    on_b.consumer(unique("group"), name="elsewhere")  # other groups are not held

    assert on_a.call("DELETE", on_a.instance(group, "one")).status_code == 204
    refused(on_b, group, "three")  # "two" still serves it on A
    assert on_a.call("DELETE", on_a.instance(group, "two")).status_code == 204
    on_b.consumer(group, name="three")
    refused(on_a, group, "four")

    # The serving instance dies: the database lets go of its groups at once.
    kill9(b)
    on_a.consumer(group, name="four")


def test_a_member_on_the_new_instance_starts_at_the_offset_committed_on_the_other(make_server, postgres):  # noqa: F811
    """The group's committed offsets are read fresh when an instance claims it: B, started before A
    committed, starts the group's member where A's member left it, not at `auto.offset.reset`."""
    url = postgres.url + "&shared_instances=true"
    a = make_server(args=["--storage", url])
    on_a = Kafka(a)
    topic, group = unique("moving"), unique("group")
    on_a.produce(topic, [{"value": b64(str(i))} for i in range(10)])
    # B reads the stream at start (a stream is written by one instance; both read it here).
    b = make_server(args=["--storage", url])
    on_b = Kafka(b)

    config = {"format": "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}
    on_a.consumer(group, name="one", **config)
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert on_a.call("POST", on_a.instance(group, "one") + "/assignments", partitions).status_code == 204
    got = [rec["offset"] for rec in on_a.records(group, "one")]
    assert got == list(range(10))
    # Commit after offset 5: the next to read is 6.
    r = on_a.call("POST", on_a.instance(group, "one") + "/offsets",
                  {"offsets": [{"topic": topic, "partition": 0, "offset": 5}]})
    assert r.status_code == 200, r.text
    assert on_a.call("DELETE", on_a.instance(group, "one")).status_code == 204

    on_b.consumer(group, name="two", **config)
    assert on_b.call("POST", on_b.instance(group, "two") + "/assignments", partitions).status_code == 204
    r = on_b.call("GET", on_b.instance(group, "two") + "/offsets", partitions)
    assert r.json()["offsets"] == [{"topic": topic, "partition": 0, "offset": 6, "metadata": ""}], r.text
    assert [rec["offset"] for rec in on_b.records(group, "two")] == [6, 7, 8, 9]
