"""TFRecord files of `tf.train.Example` / `tf.train.SequenceExample` protos, without TensorFlow.

The published MeshGraphNets datasets (Examples, one per trajectory) and GNS datasets (SequenceExamples)
are stored this way. A record is framed as: uint64 length, masked CRC-32C of the length, data, masked
CRC-32C of the data. The protos are decoded on the protobuf wire format directly; only the messages that
occur are handled (Example, SequenceExample, Features, FeatureLists, Feature, Bytes/Float/Int64List).
A feature value is a list of bytes (BytesList), a float32 array (FloatList) or an int64 array (Int64List).

References: TensorFlow `core/lib/io/record_writer.cc` (framing), `core/example/{example,feature}.proto`,
protobuf.dev/programming-guides/encoding (wire format).
"""

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------- CRC-32C

_POLY = 0x82F63B78  # Castagnoli, reflected


def _make_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(x) for x in _TABLE]
_LANE_BYTES = 4096  # chunk length of the vectorised path
_ZEROS: list[list[int]] | None = None


def _crc_raw(state: int, data: bytes) -> int:
    """The CRC register after feeding `data`, byte by byte (no pre/post inversion)."""
    table = _TABLE_LIST
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def _zeros_operator(n: int) -> list[list[int]]:
    """Byte tables of the GF(2)-linear map 'feed n zero bytes' on the 32-bit CRC register."""
    basis = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
    for _ in range(n):
        basis = _TABLE[basis & 0xFF] ^ (basis >> 8)
    idx = np.arange(256, dtype=np.uint32)
    tables = []
    for byte in range(4):
        acc = np.zeros(256, np.uint32)
        for bit in range(8):
            acc ^= np.where((idx >> bit) & 1, basis[8 * byte + bit], np.uint32(0)).astype(np.uint32)
        tables.append(acc.tolist())
    return tables


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`, as TFRecord uses.

    Short inputs use the byte table in Python (about 10 MB/s). Long ones split the data into 4 KiB lanes
    whose raw CRCs run side by side in NumPy (one vector step per byte position), then chain the lanes
    with the linear 'shift by one lane of zeros' operator: crc(A || B) = Z_|B|(crc(A)) xor crc_0(B).
    """
    global _ZEROS
    data = bytes(data)
    n_lanes = len(data) // _LANE_BYTES
    if n_lanes < 4:
        return _crc_raw(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    if _ZEROS is None:
        _ZEROS = _zeros_operator(_LANE_BYTES)
    block = np.frombuffer(data, np.uint8, n_lanes * _LANE_BYTES).reshape(n_lanes, _LANE_BYTES)
    lanes = np.zeros(n_lanes, np.uint32)
    for j in range(_LANE_BYTES):
        lanes = _TABLE[(lanes ^ block[:, j]) & 0xFF] ^ (lanes >> 8)
    state = 0xFFFFFFFF
    z0, z1, z2, z3 = _ZEROS
    for lane in lanes.tolist():
        state = z0[state & 0xFF] ^ z1[(state >> 8) & 0xFF] ^ z2[(state >> 16) & 0xFF] ^ z3[state >> 24] ^ lane
    return _crc_raw(state, data[n_lanes * _LANE_BYTES :]) ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8 (mod 2^32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------- framing


def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> None:
    """Write records with TFRecord framing, through a process-unique temporary file and a rename, so a
    reader (or a process killed mid-write) never leaves half a file under `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            for r in records:
                header = struct.pack("<Q", len(r))
                f.write(header + struct.pack("<I", masked_crc32c(header)) + r + struct.pack("<I", masked_crc32c(r)))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_tfrecord(path: str | Path, *, verify: bool = True) -> Iterator[bytes]:
    """The records of a TFRecord file. Length CRCs are always checked; data CRCs when `verify`."""
    with open(path, "rb") as f:
        k = 0
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f"{path}: record {k} has a truncated header")
            (length,) = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
                raise ValueError(f"{path}: record {k} has a corrupt length (CRC mismatch)")
            data, footer = f.read(length), f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: record {k} is truncated")
            if verify and struct.unpack("<I", footer)[0] != masked_crc32c(data):
                raise ValueError(f"{path}: record {k} has corrupt data (CRC mismatch)")
            yield data
            k += 1


# ------------------------------------------------------------------------- protobuf wire format


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a serialised message; LEN values are bytes."""
    i = 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        if i > len(buf):
            raise ValueError("truncated protobuf message")
        yield number, wire, value


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (a message, bytes or a packed array)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def decode_feature(buf: bytes) -> list[bytes] | np.ndarray:
    """tf.train.Feature -> list of bytes (BytesList), float32 array (FloatList) or int64 array (Int64List)."""
    for number, _, value in _fields(buf):
        if number == 1:
            return [v for n, _, v in _fields(value) if n == 1]
        if number == 2:  # packed (wire 2) or one float per field (wire 5): both are raw little-endian floats
            parts = [np.frombuffer(v, "<f4") for n, _, v in _fields(value) if n == 1]
            return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if number == 3:
            ints = []
            for n, wire, v in _fields(value):
                if n != 1:
                    continue
                if wire == 2:
                    j = 0
                    while j < len(v):
                        x, j = _read_varint(v, j)
                        ints.append(x)
                else:
                    ints.append(v)
            return np.array([x - (1 << 64) if x >= 1 << 63 else x for x in ints], np.int64)
    return []


def encode_feature(value: bytes | list[bytes] | np.ndarray) -> bytes:
    """Serialise a tf.train.Feature: bytes -> BytesList, float arrays -> FloatList, ints -> Int64List."""
    if isinstance(value, bytes | bytearray):
        value = [bytes(value)]
    if isinstance(value, list):
        return len_field(1, b"".join(len_field(1, v) for v in value))
    arr = np.asarray(value).ravel()
    if arr.dtype.kind == "f":
        return len_field(2, len_field(1, arr.astype("<f4").tobytes()))
    if arr.dtype.kind in "iu":
        return len_field(3, len_field(1, b"".join(_varint(int(x) & (2**64 - 1)) for x in arr)))
    raise TypeError(f"cannot encode a feature of dtype {arr.dtype}")


def _decode_map(buf: bytes, decode_value: Callable[[bytes], object]) -> dict:
    """A message whose field 1 is map<string, V> (Features, FeatureLists)."""
    out = {}
    for number, _, entry in _fields(buf):
        if number != 1:
            continue
        key, value = None, b""
        for n, _, v in _fields(entry):
            if n == 1:
                key = v.decode()
            elif n == 2:
                value = v
        if key is None:
            raise ValueError("protobuf map entry without a key")
        out[key] = decode_value(value)
    return out


def _encode_map(items: dict, encode_value: Callable[[object], bytes]) -> bytes:
    return b"".join(len_field(1, len_field(1, k.encode()) + len_field(2, encode_value(v))) for k, v in items.items())


def decode_example(buf: bytes) -> dict[str, list[bytes] | np.ndarray]:
    """A serialised tf.train.Example -> {name: feature value}."""
    out = {}
    for number, _, features in _fields(buf):
        if number == 1:
            out.update(_decode_map(features, decode_feature))
    return out


def encode_example(features: dict[str, bytes | list[bytes] | np.ndarray]) -> bytes:
    """Serialise a tf.train.Example (values as in `encode_feature`)."""
    return len_field(1, _encode_map(features, encode_feature))


def decode_sequence_example(buf: bytes) -> tuple[dict, dict]:
    """A serialised tf.train.SequenceExample -> (context {name: feature}, feature_lists {name: [feature]})."""
    context, lists = {}, {}
    for number, _, value in _fields(buf):
        if number == 1:
            context = _decode_map(value, decode_feature)
        elif number == 2:
            lists = _decode_map(value, lambda b: [decode_feature(v) for n, _, v in _fields(b) if n == 1])
    return context, lists


def encode_sequence_example(context: dict, feature_lists: dict) -> bytes:
    """Serialise a tf.train.SequenceExample; values as in `encode_feature`."""
    feature_list = lambda features: b"".join(len_field(1, encode_feature(f)) for f in features)
    return len_field(1, _encode_map(context, encode_feature)) + len_field(2, _encode_map(feature_lists, feature_list))
