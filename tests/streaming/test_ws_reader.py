"""Reading WebSocket data frames in bulk: the frame splitter, and the connection against real servers."""

from __future__ import annotations

import asyncio
import datetime
import functools
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from testkit import run_bounded
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from streaming.transport import Backoff, stream_frames
from streaming.ws_reader import HIGH_WATER, BulkReadConnection, frame_size, split_frames

run = functools.partial(run_bounded, timeout=30.0)

# --- the splitter ----------------------------------------------------------------------------------

frames_st = st.lists(
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING]),
        st.booleans(),
        st.one_of(st.binary(max_size=300), st.integers(120, 70_000).map(lambda n: b"x" * n)),
    ),
    max_size=12,
)


def wire(opcode: Opcode, fin: bool, payload: bytes) -> bytes:
    """A frame as a server sends it, serialised by websockets itself."""
    return Frame(opcode, payload, fin=fin or opcode is Opcode.PING).serialize(mask=False)


@given(frames_st, st.floats(0, 1))
def test_split_frames_finds_exactly_the_complete_frames_before_a_cut(
    frames: list[tuple[Opcode, bool, bytes]], cut_at: float
) -> None:
    frames = [(opcode, fin, payload[:125] if opcode is Opcode.PING else payload) for opcode, fin, payload in frames]
    encoded = [wire(*frame) for frame in frames]
    data = b"".join(encoded)
    cut = int(len(data) * cut_at)
    found, consumed, foreign = split_frames(data[:cut], max_size=2**24)
    complete, position = [], 0
    for (opcode, fin, payload), bytes_ in zip(frames, encoded, strict=True):
        if position + len(bytes_) > cut:
            break
        complete.append((opcode, fin or opcode is Opcode.PING, payload, position))
        position += len(bytes_)
    assert not foreign
    assert consumed == position
    assert [(head & 0x0F, bool(head & 0x80), data[payload:end], start) for head, start, payload, end in found] == [
        (opcode.value, fin, payload, start) for opcode, fin, payload, start in complete
    ]
    if consumed < cut:  # an incomplete frame: wait for more, its whole size once the header is in
        rest = data[consumed:cut]
        size = len(encoded[len(complete)])
        header = size - len(frames[len(complete)][2])
        assert len(rest) < frame_size(rest) <= size
        assert frame_size(rest) == size or len(rest) < header


def test_split_frames_stops_at_a_masked_or_oversized_frame() -> None:
    good = wire(Opcode.TEXT, True, b"ok")
    masked = Frame(Opcode.TEXT, b"masked").serialize(mask=True)
    assert split_frames(good + masked + good, max_size=100)[1:] == (len(good), True)
    big = wire(Opcode.BINARY, True, b"y" * 101)
    assert split_frames(good + big, max_size=100)[1:] == (len(good), True)


# --- against servers -------------------------------------------------------------------------------


@asynccontextmanager
async def ws_server(handler: Callable[[ServerConnection], Awaitable[None]], **options: object) -> AsyncIterator[str]:
    """A websockets server on loopback; without compression unless ``options`` say otherwise (read in bulk)."""
    async with serve(handler, "127.0.0.1", 0, **({"compression": None} | options)) as server:  # type: ignore[arg-type]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


async def drain(connection: BulkReadConnection, count: int) -> list[bytes]:
    messages: list[bytes] = []
    while len(messages) < count:
        messages.extend(payload for _, payload in await connection.received())
    return messages


def test_messages_of_every_shape_arrive_in_order_and_pings_are_answered() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: many reads

    async def handler(connection: ServerConnection) -> None:
        await connection.send("first")
        await connection.send(b"\x00\x01binary")
        await connection.send(big)
        await connection.send(["frag", "mented ", "text"])  # three frames, one message
        latency = await connection.ping()
        await asyncio.wait_for(latency, 5)  # the client answered through websockets
        for number in range(5000):
            await connection.send(f"m{number}")
        await connection.close()

    async def main() -> tuple[list[bytes], bool, type[Exception]]:
        async with (
            ws_server(handler) as url,
            connect(url, create_connection=BulkReadConnection, max_size=2**24) as client,
        ):
            assert isinstance(client, BulkReadConnection)
            bulk = client.bulk
            messages = await drain(client, 5004)
            with pytest.raises(ConnectionClosedOK) as closed:
                await client.received()
            return messages, bulk, closed.type

    messages, bulk, _ = run(main)
    assert bulk
    assert messages[:4] == [b"first", b"\x00\x01binary", big, b"fragmented text"]
    assert messages[4:] == [f"m{n}".encode() for n in range(5000)]


def tls_contexts(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


def test_messages_are_read_in_bulk_over_tls_as_from_a_real_venue(tmp_path: Path) -> None:
    server_tls, client_tls = tls_contexts(tmp_path)
    big = bytes(range(256)) * 2048  # 512 KiB: many TLS records

    async def handler(connection: ServerConnection) -> None:
        await connection.send(big)
        await connection.send(["over ", "tls"])
        await asyncio.wait_for(await connection.ping(), 5)
        for number in range(3000):
            connection.protocol.send_text(f"t{number}".encode())
        connection.send_data()
        await connection.wait_closed()

    async def main() -> tuple[bool, list[bytes]]:
        async with serve(handler, "127.0.0.1", 0, ssl=server_tls, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(
                f"wss://127.0.0.1:{port}/", ssl=client_tls, create_connection=BulkReadConnection, max_size=2**24
            ) as client:
                assert isinstance(client, BulkReadConnection)
                return client.bulk, await drain(client, 3002)

    bulk, messages = run(main)
    assert bulk
    assert messages == [big, b"over tls"] + [f"t{n}".encode() for n in range(3000)]


def test_arrival_times_are_stamped_when_the_bytes_arrive() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send("a")
        await asyncio.sleep(0.2)
        await connection.send("b")
        await connection.wait_closed()

    async def main() -> list[tuple[int, bytes]]:
        async with ws_server(handler) as url, connect(url, create_connection=BulkReadConnection) as client:
            assert isinstance(client, BulkReadConnection)
            first = list(await client.received())
            await asyncio.sleep(0.5)  # b arrives while nobody takes it
            second = list(await client.received())
            return first + second

    (t_a, a), (t_b, b) = run(main)
    assert (a, b) == (b"a", b"b")
    assert 0.15e9 < t_b - t_a < 0.45e9, "b is stamped on arrival, not when taken 0.5 s later"


def test_invalid_utf8_text_is_handed_on_and_the_connection_lives() -> None:
    async def handler(connection: ServerConnection) -> None:
        connection.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe not utf-8"))
        connection.send_data()
        await connection.send("after")
        await connection.wait_closed()

    async def main() -> list[bytes]:
        async with ws_server(handler) as url, connect(url, create_connection=BulkReadConnection) as client:
            assert isinstance(client, BulkReadConnection)
            return await drain(client, 2)

    assert run(main) == [b"\xff\xfe not utf-8", b"after"]


def test_a_message_over_max_size_fails_the_connection_after_the_earlier_ones() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send("small")
        await connection.send("x" * 2000)
        await connection.wait_closed()

    async def main() -> tuple[list[bytes], int | None]:
        async with (
            ws_server(handler) as url,
            connect(url, create_connection=BulkReadConnection, max_size=1000) as client,
        ):
            assert isinstance(client, BulkReadConnection)
            messages = await drain(client, 1)
            with pytest.raises(ConnectionClosedError) as closed:
                await client.received()
            sent = closed.value.sent
            return messages, sent.code if sent is not None else None

    assert run(main) == ([b"small"], 1009)


async def raw_server(after_handshake: bytes) -> tuple[asyncio.Server, str]:
    """A hand-written server: the 101 response and ``after_handshake`` in one write, then silence."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"Sec-WebSocket-Key: (\S+)", request, re.IGNORECASE)
        assert match is not None
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(match.group(1).decode()).encode() + b"\r\n\r\n" + after_handshake
        )
        await reader.read(1)  # the client's next bytes (its close frame): hang up
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


def test_frames_in_the_same_segment_as_the_handshake_are_read() -> None:
    async def main() -> list[bytes]:
        server, url = await raw_server(wire(Opcode.TEXT, True, b"hello") + wire(Opcode.BINARY, True, b"there"))
        async with server, connect(url, create_connection=BulkReadConnection, compression=None) as client:
            assert isinstance(client, BulkReadConnection) and client.bulk
            return await drain(client, 2)

    assert run(main) == [b"hello", b"there"]


def test_a_frame_split_inside_its_header_is_read_when_the_rest_arrives() -> None:
    first, second = wire(Opcode.TEXT, True, b"abc"), wire(Opcode.TEXT, True, b"x" * 300)

    async def main() -> list[bytes]:
        server, url = await raw_server(first[:1])
        async with server, connect(url, create_connection=BulkReadConnection, compression=None) as client:
            assert isinstance(client, BulkReadConnection)
            client.data_received(first[1:])  # the rest of a 5-byte frame, as the next read: nothing follows
            messages = await drain(client, 1)
            client.data_received(second[:3])  # a frame cut inside its 4-byte header
            client.data_received(second[3:])
            return messages + await drain(client, 1)

    assert run(main) == [b"abc", b"x" * 300]


def test_a_continuation_with_nothing_to_continue_drops_the_connection() -> None:
    async def main() -> list[bytes]:
        server, url = await raw_server(wire(Opcode.TEXT, True, b"kept") + wire(Opcode.CONT, True, b"stray"))
        async with server, connect(url, create_connection=BulkReadConnection, compression=None) as client:
            assert isinstance(client, BulkReadConnection)
            messages = await drain(client, 1)
            with pytest.raises(ConnectionClosedError):
                await client.received()
            return messages

    assert run(main) == [b"kept"]


def test_reading_pauses_at_the_high_water_mark_and_resumes_when_taken() -> None:
    count = HIGH_WATER + 5000

    async def handler(connection: ServerConnection) -> None:
        for number in range(count):
            connection.protocol.send_text(str(number).encode())
        connection.send_data()
        await connection.wait_closed()

    async def main() -> tuple[bool, list[bytes]]:
        async with ws_server(handler) as url, connect(url, create_connection=BulkReadConnection) as client:
            assert isinstance(client, BulkReadConnection)
            while len(client._messages) < HIGH_WATER:
                await asyncio.sleep(0.01)
            paused = not client.transport.is_reading()
            return paused, await drain(client, count)

    paused, messages = run(main)
    assert paused
    assert messages == [str(n).encode() for n in range(count)]


def test_a_compressing_connection_is_read_by_websockets_through_the_transport() -> None:
    """With ``compression=True`` the transport offers deflate; a server that takes it gets websockets' reader."""

    async def handler(connection: ServerConnection) -> None:
        for number in range(50):
            await connection.send(f"compressed {number} " * 20)
        await connection.wait_closed()

    modes: list[bool] = []

    async def on_connect(connection: ClientConnection) -> None:
        modes.append(isinstance(connection, BulkReadConnection) and connection.bulk)

    async def main() -> list[bytes]:
        async with ws_server(handler, compression="deflate") as url:
            stream = stream_frames(
                url,
                backoff=Backoff(0.01, 0.05),
                ping_interval=20,
                ping_timeout=20,
                compression=True,
                on_connect=on_connect,
            )
            frames = []
            async for frame in stream:
                frames.append(frame.data)
                if len(frames) == 50:
                    break
            await stream.aclose()  # type: ignore[attr-defined]
            return frames

    assert run(main) == [(f"compressed {n} " * 20).encode() for n in range(50)]
    assert modes == [False], "compressed frames are websockets' to read"
