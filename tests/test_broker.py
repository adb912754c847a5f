"""The embedded Tansu broker: starts on a free port, serves Kafka clients, stops cleanly."""

from __future__ import annotations

import socket

import pytest

from rehabwatch.broker import EmbeddedBroker
from tests.kafka_fixtures import consume, produce

pytestmark = pytest.mark.kafka


def test_session_broker_round_trips_messages(kafka_broker: EmbeddedBroker) -> None:
    produce(kafka_broker, "broker-test", [("k1", b"one"), ("k1", b"two")])
    got = consume(kafka_broker, "broker-test", 2)
    assert [(k, v) for k, v, _ in got] == [(b"k1", b"one"), (b"k1", b"two")]


def test_context_manager_stops_the_broker() -> None:
    with EmbeddedBroker() as broker:
        assert broker.running and broker.url == f"kafka://127.0.0.1:{broker.port}"
    assert not broker.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", broker.port), 0.5):
        pass
