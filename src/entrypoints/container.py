"""The one composition root: the only module that names adapters.

Read it as a wiring diagram. Tests swap any port with ``container.<name>.override(fake)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis.asyncio
from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.bench.sync_insert import SynchronousInsertTracking
from adapters.cache_invalidation import RedisCacheInvalidation
from adapters.clock import SystemClock
from adapters.dramatiq.queue import DramatiqJobQueue, build_broker, ping
from adapters.hashing import DailySaltHasher, SecretHasher
from adapters.log_email import LogEmailSender
from adapters.metrics import PrometheusMetrics
from adapters.product_cache import TTLProductCache
from adapters.salts import FileSaltStore, RedisSaltStore
from adapters.sendgrid.sender import SendGridEmailSender
from adapters.sqlalchemy.engine import create_engine, is_sqlite
from adapters.sqlalchemy.migrate import schema_behind, upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from adapters.sqlalchemy.visit_writer import CopyVisitWriter
from adapters.user_agents import LibraryUserAgentClassifier
from application.analytics import AnalyticsService
from application.notifications import NotificationService, SubscriptionService
from application.products import ProductService
from application.triggers import AggregationTrigger
from application.visit_buffer import UnitOfWorkVisitWriter, VisitBuffer
from application.visits import VisitSealer, VisitService
from entrypoints.settings import Settings


def _salt_store(settings: Settings) -> Any:
    if settings.broker_url:
        return RedisSaltStore(
            redis.asyncio.Redis.from_url(settings.broker_url),
            prefix=f"{settings.redis_prefix}:salt:",
        )
    return FileSaltStore(settings.data_dir / "footfall.salts")


def _hasher(settings: Settings, salts: Any) -> Any:
    if settings.hash_rotation == "none":
        if settings.hash_secret is None:  # settings.load() refuses this
            raise ValueError("hash rotation 'none' needs a secret")
        return SecretHasher(settings.hash_secret)
    return DailySaltHasher(salts)


def _email_sender(settings: Settings) -> Any:
    if settings.sendgrid_api_key:
        return SendGridEmailSender(
            settings.sendgrid_api_key, settings.sendgrid_host, settings.email_from
        )
    return LogEmailSender()


def _visit_tracker(
    settings: Settings,
    service: VisitService,
    uow: Any,
    sealer: VisitSealer,
    classifier: Any,
    clock: Any,
    metrics: Any,
) -> Any:
    """What the tracking middleware hands page views to: the visit service, or for the
    benchmark's baseline (never production) the seed's one-INSERT-per-view design."""
    if settings.bench_visit_sink == "sync":
        return SynchronousInsertTracking(uow, sealer.seal, classifier, clock, metrics)
    return service


def _visit_writer(settings: Settings, uow: Any) -> Any:
    """Where the visit buffer's flushes go. PostgreSQL: a COPY per flush on the writer's own
    connection (request traffic cannot hold it; a flush that meets it dead fails, is retried
    with backoff on a new one, and loses nothing). SQLite: the unit of work on the one file."""
    if is_sqlite(settings.database_url):
        return UnitOfWorkVisitWriter(uow)
    return CopyVisitWriter(settings.database_url)


def _cache_invalidation(settings: Settings, cache: TTLProductCache) -> Any:
    """With a broker there may be several API processes: tell them all about changes."""
    if not settings.broker_url:
        return None
    channel = f"{settings.redis_prefix}:product-changed"
    return RedisCacheInvalidation(settings.broker_url, channel, cache)


def _unsubscribe_url(settings: Settings) -> str:
    return settings.public_url + "/api/subscriptions/{token}"


async def _database_problem(engine: AsyncEngine) -> str | None:
    """None when the database answers with the schema this code needs, else what is wrong."""
    try:
        return await schema_behind(engine)
    except Exception:
        return "database unavailable"


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    # Infrastructure: one of each per container (a container lives on one event loop).
    clock = providers.Singleton(SystemClock)
    registry = providers.Singleton(CollectorRegistry)
    metrics = providers.Singleton(PrometheusMetrics, registry)
    engine = providers.Singleton(create_engine, settings.provided.database_url)
    uow = providers.Factory(SqlAlchemyUnitOfWork, engine)
    visit_writer = providers.Singleton(_visit_writer, settings, uow.provider)
    broker = providers.Singleton(
        build_broker, settings.provided.broker_url, settings.provided.redis_prefix
    )
    job_queue = providers.Singleton(
        DramatiqJobQueue, broker, settings.provided.broker_url, settings.provided.redis_prefix
    )
    salts = providers.Singleton(_salt_store, settings)
    hasher = providers.Singleton(_hasher, settings, salts)
    classifier = providers.Singleton(LibraryUserAgentClassifier)
    product_cache = providers.Singleton(TTLProductCache, settings.provided.product_cache_ttl_s)
    cache_invalidation = providers.Singleton(_cache_invalidation, settings, product_cache)
    email_sender = providers.Singleton(_email_sender, settings)

    # Use cases.
    aggregation_trigger = providers.Singleton(AggregationTrigger, job_queue, metrics)
    visit_sealer = providers.Singleton(VisitSealer, hasher, metrics)
    visit_buffer = providers.Singleton(
        VisitBuffer,
        uow.provider,
        metrics,
        clock,
        visit_sealer.provided.seal,
        writer=visit_writer,
        interval_s=settings.provided.visit_flush_interval_s,
        max_size=settings.provided.visit_buffer_max,
        on_flushed=aggregation_trigger.provided.visits_written,
    )
    visit_service = providers.Singleton(
        VisitService,
        uow=uow.provider,
        sink=visit_buffer,
        classifier=classifier,
        clock=clock,
        metrics=metrics,
        on_stored=aggregation_trigger.provided.visits_written,
    )
    visit_tracker = providers.Singleton(
        _visit_tracker,
        settings,
        visit_service,
        uow.provider,
        visit_sealer,
        classifier,
        clock,
        metrics,
    )
    product_service = providers.Singleton(ProductService, uow.provider, clock, product_cache)
    analytics_service = providers.Singleton(
        AnalyticsService,
        uow.provider,
        clock,
        metrics,
        salts,
        retention_days=settings.provided.visit_retention_days,
        visitors_per_day=settings.provided.visitors_per_day,
    )
    subscription_service = providers.Singleton(SubscriptionService, uow.provider, clock)
    notification_service = providers.Singleton(
        NotificationService,
        uow.provider,
        clock,
        email_sender,
        job_queue,
        metrics,
        unsubscribe_url=providers.Callable(_unsubscribe_url, settings),
        lease=providers.Callable(lambda s: timedelta(seconds=s.email_lease_s), settings),
    )

    # Operations.
    database_problem = providers.Callable(_database_problem, engine)
    broker_ready = providers.Callable(ping, broker)
    migrate = providers.Callable(upgrade, settings.provided.database_url)


def build_container(settings: Settings, **overrides: Any) -> Container:
    container = Container(settings=settings)
    for name, value in overrides.items():
        getattr(container, name).override(value)
    return container
