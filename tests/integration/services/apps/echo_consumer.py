"""A tiny Kafka app for the process-scope tests: copies each record of one topic to another.

Usage: echo_consumer.py PORT BOOTSTRAP_SERVERS SOURCE_TOPIC TARGET_TOPIC. It listens on
PORT (the health check) once its consumer owns its partitions.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def main(port: int, servers: str, source: str, target: str) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=servers,
        group_id=f"echo-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await consumer.start()
    await producer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    print(f"echoing {source} -> {target}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    async def echo() -> None:
        async for record in consumer:
            await producer.send_and_wait(target, record.value, key=record.key)

    task = asyncio.create_task(echo())
    await stop.wait()
    task.cancel()
    server.close()
    await consumer.stop()
    await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]))
