"""A real Kafka client for the tests: librdkafka (confluent-kafka), set for 0.8 brokers."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition

TOPIC = "orders"
# librdkafka's settings for a 0.8 broker (it cannot ask a broker that old its versions)
OLD_BROKER = {"api.version.request": False, "broker.version.fallback": "0.8.1",
              "log_level": 3}


def produce(broker: str, count: int) -> None:
    producer = Producer({**OLD_BROKER, "bootstrap.servers": broker,
                         "request.required.acks": -1})  # every in-sync replica has it
    failures: list[str] = []
    for i in range(count):
        producer.produce(TOPIC, f"message {i}".encode(),
                         on_delivery=lambda err, _: err and failures.append(str(err)))
    assert producer.flush(60) == 0 and not failures, failures


def consume(broker: str, partitions: int, count: int) -> list[str]:
    consumer = Consumer({**OLD_BROKER, "bootstrap.servers": broker, "group.id": "test",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    got: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                got.append(message.value().decode())
    finally:
        consumer.close()
    return got
