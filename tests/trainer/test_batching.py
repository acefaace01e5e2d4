"""Sharding batches across data-parallel ranks: every rank the same number of batches, at least
one. Each step all-reduces gradients, so a rank with one batch more than another would wait
for it forever (the hang the shards must rule out)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tuneloop.ml.batching import shard


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=8))
def test_every_rank_gets_the_same_number_of_batches_and_at_least_one(count, world):
    batches = [[i] for i in range(count)]
    shards = [shard(batches, rank, world) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) >= 1
    if count >= world:  # no batch twice, and fewer than `world` left out
        seen = [b[0] for s in shards for b in s]
        assert len(seen) == len(set(seen)) and count - len(seen) < world


def test_fewer_batches_than_ranks_are_cycled_and_one_worker_keeps_them_all():
    assert [shard([[0], [1]], rank, 3) for rank in range(3)] == [[[0]], [[1]], [[0]]]
    assert shard([[0], [1], [2]], 0, 1) == [[0], [1], [2]]
