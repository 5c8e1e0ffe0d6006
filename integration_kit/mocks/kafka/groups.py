"""Consumer groups: membership, eager rebalances with aiokafka's own assignors, offsets.

A rebalance runs as the broker-plus-leader would run it, but in-process and at once:

1. every current member commits (if auto-commit is on) and is told
   ``on_partitions_revoked(previous assignment)``; a new member is told ``set()``;
2. the group picks the protocol all members support (by vote, as the broker does),
   bumps the generation and lets that assignor (``RangePartitionAssignor``,
   ``RoundRobinPartitionAssignor``...) split the partitions over the members
   ordered by member id, exactly as the aiokafka group leader does;
3. every member takes its partitions (positions from the committed offsets, else
   ``auto_offset_reset``) and is told ``on_partitions_assigned(new assignment)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka.errors import InconsistentGroupProtocolError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

if TYPE_CHECKING:
    from integration_kit.mocks.kafka.cluster import MockKafkaCluster

__all__ = ["ConsumerGroup", "GroupMember"]

log = logging.getLogger(__name__)


class GroupMember(Protocol):
    """What a group needs of a member (implemented by ``MockKafkaConsumer``)."""

    member_id: str

    def _assignor_names(self) -> list[str]: ...

    def _assignor(self, name: str) -> Any: ...

    def _subscribed_topics(self) -> set[str]: ...

    async def _on_revoke(self) -> None: ...

    async def _on_assign(self, partitions: set[TopicPartition], generation: int) -> None: ...


class _ClusterView:
    """The ``ClusterMetadata`` subset aiokafka's assignors read."""

    def __init__(self, cluster: MockKafkaCluster) -> None:
        self._cluster = cluster

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._cluster.partitions_for(topic)

    def topics(self, exclude_internal_topics: bool = True) -> set[str]:
        return self._cluster.topics()


class ConsumerGroup:
    """One consumer group: its members, generation, protocol and committed offsets."""

    def __init__(self, group_id: str, cluster: MockKafkaCluster) -> None:
        self.group_id = group_id
        self.members: dict[str, GroupMember] = {}
        self.generation = 0
        self.protocol: str | None = None
        self.assignment: dict[str, set[TopicPartition]] = {}
        self.offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        self._cluster = cluster
        self._running: asyncio.Future[None] | None = None
        self._dirty = False

    @property
    def rebalancing(self) -> bool:
        """Whether a rebalance is under way or requested."""
        return self._running is not None or self._dirty

    @property
    def state(self) -> str:
        """``Empty``, ``PreparingRebalance`` or ``Stable`` (the broker's names)."""
        if not self.members:
            return "Empty"
        return "PreparingRebalance" if self.rebalancing else "Stable"

    def check_protocols(self, member: GroupMember) -> None:
        """Raise ``InconsistentGroupProtocolError`` if ``member`` shares no assignor."""
        if not self.members:
            return
        common = set(member._assignor_names())
        for other in self.members.values():
            common &= set(other._assignor_names())
        if not common:
            raise InconsistentGroupProtocolError(
                f"member assignors {member._assignor_names()} share none with group {self.group_id!r}"
            )

    async def join(self, member: GroupMember) -> None:
        self.check_protocols(member)
        self.members[member.member_id] = member
        await self.rebalance()

    async def leave(self, member: GroupMember) -> None:
        if self.members.pop(member.member_id, None) is None:
            return
        self.assignment.pop(member.member_id, None)
        if self.members:
            await self.rebalance()
        else:
            self.protocol = None

    async def rebalance(self) -> None:
        """Rebalance now, or wait for the one under way (and run again if asked to)."""
        self._dirty = True
        while True:
            if self._running is not None:
                await asyncio.shield(self._running)
                continue
            if not self._dirty:
                return
            self._dirty = False
            running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._running = running
            try:
                await self._rebalance_once()
            finally:
                self._running = None
                running.set_result(None)

    def _choose_protocol(self, members: Sequence[GroupMember]) -> str:
        common = set(members[0]._assignor_names())
        for member in members[1:]:
            common &= set(member._assignor_names())
        votes: Counter[str] = Counter()
        for member in members:
            votes[next(name for name in member._assignor_names() if name in common)] += 1
        # Ties go to the leader's (first member's) preference, as in the broker.
        order = [name for name in members[0]._assignor_names() if name in common]
        return max(order, key=lambda name: (votes[name], -order.index(name)))

    async def _rebalance_once(self) -> None:
        members = list(self.members.values())
        for member in members:
            await member._on_revoke()
        members = list(self.members.values())
        if not members:
            return
        self.generation += 1
        self.protocol = self._choose_protocol(members)
        assignor = members[0]._assignor(self.protocol)
        # What each member sends in JoinGroup: its assignor's metadata for its topics.
        metadata = {
            m.member_id: m._assignor(self.protocol).metadata(sorted(m._subscribed_topics())) for m in members
        }
        result = assignor.assign(_ClusterView(self._cluster), metadata)
        for m in members:
            m._assignor(self.protocol).on_assignment(result[m.member_id])
        self.assignment = {
            member_id: {
                TopicPartition(topic, p)
                for topic, partitions in result[member_id].assignment
                for p in partitions
            }
            for member_id in metadata
        }
        generation = self.generation
        log.debug("group %s generation %d assignment %s", self.group_id, generation, self.assignment)
        for member in members:
            await member._on_assign(set(self.assignment[member.member_id]), generation)

    def commit(self, offsets: Iterable[tuple[TopicPartition, OffsetAndMetadata]]) -> None:
        for tp, meta in offsets:
            self.offsets[tp] = meta

    def committed(self, tp: TopicPartition) -> OffsetAndMetadata | None:
        return self.offsets.get(tp)
