"""AMQP behaviours that pika's own acceptance suite (tests/acceptance in pika/pika) found different from
RabbitMQ, checked with the stock pika client: connection.update-secret, an unknown exchange type, an
unknown vhost. docs/protocols/amqp.md ("Conformance: pika acceptance suite") has the whole comparison."""

from __future__ import annotations

import uuid

import pika
import pika.exceptions
import pytest

from security_support import ISSUER, JWT_SECRET, make_jwt


def connect(url: str) -> pika.BlockingConnection:
    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    return pika.BlockingConnection(parameters)


def test_update_secret_of_a_password_login_is_answered(server):
    # RabbitMQ's internal backend accepts any new secret for a password login: update-secret-ok.
    connection = connect(server.amqp_url)
    try:
        channel = connection.channel()
        connection.update_secret("new_secret", "reason")
        assert channel.is_open and connection.is_open
        channel.queue_declare("", exclusive=True)  # still usable
    finally:
        connection.close()


@pytest.fixture
def jwt_server(make_server):
    return make_server({"security": {"jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}}})


def jwt_url(server, token: str) -> str:
    return f"amqp://oauth:{token}@127.0.0.1:{server.amqp_port}/%2F"


def test_update_secret_of_a_jwt_login_takes_the_next_token_of_the_same_user(jwt_server):
    connection = connect(jwt_url(jwt_server, make_jwt("worker", expires_in=60)))
    try:
        connection.update_secret(make_jwt("worker", expires_in=600), "refresh")
        assert connection.is_open
    finally:
        connection.close()


@pytest.mark.parametrize("secret", ["not-a-token", "another user"])
def test_update_secret_refused_closes_with_530(jwt_server, secret):
    connection = connect(jwt_url(jwt_server, make_jwt("worker", expires_in=60)))
    new_secret = make_jwt("someone-else") if secret == "another user" else secret
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.update_secret(new_secret, "refresh")
    assert closed.value.reply_code == 530
    assert closed.value.reply_text == "NOT_ALLOWED - New secret was refused by one of the backends"


def test_unknown_exchange_type_closes_the_channel_with_406(server):
    # RabbitMQ 4 (rabbit_exchange:check_type); the connection stays open.
    connection = connect(server.amqp_url)
    try:
        channel = connection.channel()
        name = "conformance-x-" + uuid.uuid4().hex
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.exchange_declare(name, exchange_type="ZZwwInvalid")
        assert closed.value.reply_code == 406
        assert closed.value.reply_text == "PRECONDITION_FAILED - unknown exchange type 'ZZwwInvalid'"
        assert connection.is_open
        connection.channel().exchange_declare(name, exchange_type="fanout", auto_delete=True)
    finally:
        connection.close()


def test_unknown_vhost_is_refused_with_rabbitmqs_text(server):
    url = f"amqp://guest:guest@127.0.0.1:{server.amqp_port}/no-such-vhost"
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        connect(url)
    assert "NOT_ALLOWED - vhost no-such-vhost not found" in str(refused.value)
