import pytest
from hypothesis import given
from hypothesis import strategies as st

from robench.epsilon import parse_eps


def test_examples():
    assert parse_eps("0.05:0.25") == [0.05, 0.1, 0.15, 0.2, 0.25]
    assert parse_eps("0:0.2:0.1") == [0.0, 0.1, 0.2]
    assert parse_eps("0.25,0.05") == [0.05, 0.25]
    assert parse_eps("0.1") == [0.1]


@given(start=st.integers(0, 20), count=st.integers(0, 20), step=st.integers(1, 5))
def test_range_includes_stop_within_tolerance(start, count, step):
    a, s = start / 100, step / 100
    b = a + count * s
    if b > 1:
        return
    vals = parse_eps(f"{a}:{b}:{s}")
    assert len(vals) == count + 1
    assert abs(vals[0] - a) < 1e-9 and abs(vals[-1] - b) < 1e-9
    assert all(0 <= v <= 1 for v in vals) and vals == sorted(vals)


@given(xs=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=6))
def test_comma_lists_round_trip(xs):
    vals = parse_eps(",".join(repr(x) for x in xs))
    assert vals == sorted({round(x, 10) for x in xs})


@pytest.mark.parametrize("bad", ["", "0.3:0.1", "a:b", "0.1,,0.2", "0:2", "-0.1", "0.1:0.2:0", "1:2:3:4", ":0.2",
                                 "nan", "0.1:inf"])
def test_malformed_is_rejected(bad):
    with pytest.raises(ValueError):
        parse_eps(bad)
