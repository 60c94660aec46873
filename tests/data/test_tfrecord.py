"""TFRecord framing, CRC-32C and the tf.train.Example / SequenceExample codec (checked against protobuf)."""

import struct

import numpy as np
import pytest

from sciml.data.tfrecord import (
    _crc_raw,
    crc32c,
    decode_example,
    decode_sequence_example,
    encode_example,
    encode_sequence_example,
    len_field,
    masked_crc32c,
    read_tfrecord,
    write_tfrecord,
)


def test_crc32c_known_values_and_vectorised_path():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0
    data = np.random.default_rng(0).integers(0, 256, 5 * 4096 + 77, dtype=np.uint8).tobytes()
    assert crc32c(data) == _crc_raw(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def test_example_codec_round_trip_and_wire_details():
    features = {"a": b"raw-bytes", "f": np.array([1.5, -2.0], np.float32), "i": np.array([3, -1, 2**40])}
    back = decode_example(encode_example(features))
    assert back["a"] == [b"raw-bytes"]
    np.testing.assert_array_equal(back["f"], [1.5, -2.0])
    np.testing.assert_array_equal(back["i"], [3, -1, 2**40])
    # Unpacked floats (one wire-type-5 field per value) decode too.
    floats = b"".join(b"\x0d" + struct.pack("<f", v) for v in (0.25, 4.0))
    feature = len_field(2, floats)
    entry = len_field(1, len_field(1, b"x") + len_field(2, feature))
    np.testing.assert_array_equal(decode_example(len_field(1, entry))["x"], [0.25, 4.0])


def test_crc32c_rfc3720_and_mask():
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def test_tfrecord_framing_and_corruption(tmp_path):
    path = tmp_path / "x.tfrecord"
    records = [b"hello", b"", bytes(range(256)) * 3]
    write_tfrecord(path, records)
    raw = path.read_bytes()
    # framing by hand: length, masked crc of length, data, masked crc of data
    assert struct.unpack("<Q", raw[:8])[0] == 5
    assert struct.unpack("<I", raw[8:12])[0] == masked_crc32c(raw[:8])
    assert raw[12:17] == b"hello" and struct.unpack("<I", raw[17:21])[0] == masked_crc32c(b"hello")
    assert list(read_tfrecord(path, verify=True)) == records
    bad = bytearray(raw)
    bad[14] ^= 0xFF  # corrupt the data of the first record
    path.write_bytes(bytes(bad))
    assert next(read_tfrecord(path, verify=False)) != b"hello"  # unverified read passes it through
    with pytest.raises(ValueError, match="corrupt data"):
        list(read_tfrecord(path, verify=True))
    bad = bytearray(raw)
    bad[0] ^= 0x01  # corrupt a length
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="corrupt length"):
        list(read_tfrecord(path))
    path.write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(read_tfrecord(path))


def _tf_example_classes():
    """tf.train.{Feature, SequenceExample} built at run time with protobuf (an independent codec)."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="sciml_test_example.proto", package="tfx", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields, nested=()):
        m = f.message_type.add(name=name)
        for n in nested:
            m.nested_type.add().CopyFrom(n)
        for num, fname, ftype, label, tname in fields:
            fd = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                fd.type_name = tname
            if ftype in (T.TYPE_FLOAT, T.TYPE_INT64) and label == T.LABEL_REPEATED:
                fd.options.packed = True
        return m

    def entry(name, value_type):
        e = descriptor_pb2.DescriptorProto(name=name)
        e.options.map_entry = True
        e.field.add(name="key", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
        e.field.add(name="value", number=2, type=T.TYPE_MESSAGE, label=T.LABEL_OPTIONAL, type_name=value_type)
        return e

    rep, opt = T.LABEL_REPEATED, T.LABEL_OPTIONAL
    msg("BytesList", [(1, "value", T.TYPE_BYTES, rep, None)])
    msg("FloatList", [(1, "value", T.TYPE_FLOAT, rep, None)])
    msg("Int64List", [(1, "value", T.TYPE_INT64, rep, None)])
    feat = msg("Feature", [(1, "bytes_list", T.TYPE_MESSAGE, opt, ".tfx.BytesList"),
                           (2, "float_list", T.TYPE_MESSAGE, opt, ".tfx.FloatList"),
                           (3, "int64_list", T.TYPE_MESSAGE, opt, ".tfx.Int64List")])
    feat.oneof_decl.add(name="kind")
    for fd in feat.field:
        fd.oneof_index = 0
    msg("Features", [(1, "feature", T.TYPE_MESSAGE, rep, ".tfx.Features.FeatureEntry")],
        [entry("FeatureEntry", ".tfx.Feature")])
    msg("FeatureList", [(1, "feature", T.TYPE_MESSAGE, rep, ".tfx.Feature")])
    msg("FeatureLists", [(1, "feature_list", T.TYPE_MESSAGE, rep, ".tfx.FeatureLists.FeatureListEntry")],
        [entry("FeatureListEntry", ".tfx.FeatureList")])
    msg("SequenceExample", [(1, "context", T.TYPE_MESSAGE, opt, ".tfx.Features"),
                            (2, "feature_lists", T.TYPE_MESSAGE, opt, ".tfx.FeatureLists")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tfx.SequenceExample"))


def test_sequence_example_codec_agrees_with_protobuf():
    SequenceExample = _tf_example_classes()
    rng = np.random.default_rng(1)
    pos = rng.normal(size=(3, 4, 2)).astype(np.float32)
    ptype = np.array([5, 5, 3, 7], np.int64)
    # protobuf encodes, we decode (a GNS record as TensorFlow writes it)
    ex = SequenceExample()
    ex.context.feature["particle_type"].bytes_list.value.append(ptype.tobytes())
    ex.context.feature["key"].int64_list.value.extend([-3, 2**40])
    ex.context.feature["scale"].float_list.value.extend([0.5, -1.25])
    for p in pos:
        ex.feature_lists.feature_list["position"].feature.add().bytes_list.value.append(p.tobytes())
    ctx, lists = decode_sequence_example(ex.SerializeToString())
    np.testing.assert_array_equal(np.frombuffer(ctx["particle_type"][0], np.int64), ptype)
    np.testing.assert_array_equal(ctx["key"], [-3, 2**40])
    np.testing.assert_array_equal(ctx["scale"], np.float32([0.5, -1.25]))
    np.testing.assert_array_equal(np.stack([np.frombuffer(f[0], np.float32).reshape(4, 2) for f in lists["position"]]),
                                  pos)
    # we encode, protobuf decodes
    ours = encode_sequence_example({"particle_type": ptype.tobytes(), "key": np.array([-3, 2**40]),
                                    "scale": np.float32([0.5, -1.25])}, {"position": [p.tobytes() for p in pos]})
    parsed = SequenceExample.FromString(ours)
    assert list(parsed.context.feature["key"].int64_list.value) == [-3, 2**40]
    assert list(parsed.context.feature["scale"].float_list.value) == [0.5, -1.25]
    assert parsed.context.feature["particle_type"].bytes_list.value[0] == ptype.tobytes()
    steps = parsed.feature_lists.feature_list["position"].feature
    got = [np.frombuffer(f.bytes_list.value[0], np.float32) for f in steps]
    np.testing.assert_array_equal(np.stack(got).reshape(pos.shape), pos)


