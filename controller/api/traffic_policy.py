"""`spec.service.trafficPolicy`: the Istio DestinationRule traffic policy Flagger passes through.

Invariants:
- Pass-through only: the controller copies this into the generated DestinationRules and does
  not interpret it. Fields mirror Flagger's CRD; `from` is a Python keyword, hence `from_`.
"""

from typing import Literal

from pydantic import Field

from controller.api.model import ApiModel

__all__ = [
    "ClientTls",
    "ConnectionPool",
    "ConsistentHash",
    "HttpConnectionPool",
    "HttpCookie",
    "LoadBalancer",
    "LocalityDistribute",
    "LocalityFailover",
    "LocalityLbSetting",
    "OutlierDetection",
    "TrafficPolicy",
]


class HttpConnectionPool(ApiModel):
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    idle_timeout: str | None = None
    max_requests_per_connection: int | None = None
    max_retries: int | None = None


class ConnectionPool(ApiModel):
    http: HttpConnectionPool | None = None


class HttpCookie(ApiModel):
    name: str | None = None
    path: str | None = None
    ttl: str | None = None


class ConsistentHash(ApiModel):
    http_cookie: HttpCookie | None = None
    http_header_name: str | None = None
    http_query_parameter_name: str | None = None
    minimum_ring_size: int | None = None
    use_source_ip: bool | None = None


class LocalityDistribute(ApiModel):
    from_: str | None = Field(default=None, alias="from")
    to: dict[str, int] = {}


class LocalityFailover(ApiModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class LocalityLbSetting(ApiModel):
    distribute: list[LocalityDistribute] = []
    enabled: bool | None = None
    failover: list[LocalityFailover] = []


class LoadBalancer(ApiModel):
    consistent_hash: ConsistentHash | None = None
    locality_lb_setting: LocalityLbSetting | None = None
    simple: Literal["ROUND_ROBIN", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "LEAST_REQUEST"] | None = None
    warmup_duration_secs: str | None = None


class OutlierDetection(ApiModel):
    base_ejection_time: str | None = None
    consecutive_5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_errors: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive_local_origin_failures: int | None = None
    interval: str | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int | None = None
    split_external_local_origin_errors: bool | None = None


class ClientTls(ApiModel):
    ca_certificates: str | None = None
    client_certificate: str | None = None
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    private_key: str | None = None
    sni: str | None = None
    subject_alt_names: list[str] = []


class TrafficPolicy(ApiModel):
    connection_pool: ConnectionPool | None = None
    load_balancer: LoadBalancer | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTls | None = None
