"""The layer beneath every service module: endpoints, balancer, retries, metadata."""

from ._balancer import Balancer
from ._connection import EndpointConnection
from ._endpoints import Endpoint, parse_endpoint, parse_endpoints
from ._lane_stream import CallStream
from ._method import Decoder, Method
from ._transport import CONNECTION_ERRORS, Transport

__all__ = [
    "CONNECTION_ERRORS",
    "Balancer",
    "CallStream",
    "Decoder",
    "Endpoint",
    "EndpointConnection",
    "Method",
    "Transport",
    "parse_endpoint",
    "parse_endpoints",
]
