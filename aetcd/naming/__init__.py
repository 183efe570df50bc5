"""Service discovery over etcd (Go's `clientv3/naming`): an endpoint registry in Go's
JSON format and a grpclib channel that balances calls over it.

    mgr = aetcd.naming.EndpointManager(client, "my-service")
    async with mgr.register("my-service/node-1", aetcd.naming.Endpoint("10.0.0.7:50051")):
        ...                                                    # a server registers itself

    async with aetcd.naming.ServiceChannel(client, "my-service") as channel:
        reply = await GreeterStub(channel).SayHello(request)   # a client calls it
"""

from ._channel import ServiceChannel
from ._endpoints import (
    Endpoint,
    EndpointManager,
    EndpointWatch,
    Operation,
    Registration,
    Update,
)

__all__ = [
    "Endpoint",
    "EndpointManager",
    "EndpointWatch",
    "Operation",
    "Registration",
    "ServiceChannel",
    "Update",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("aetcd.naming._"):
        _obj.__module__ = __name__
del _name, _obj
