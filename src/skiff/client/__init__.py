"""How every component reaches the API: REST client, informers, cache, work queue."""

from skiff.client.cache import Indexer, meta_namespace_key, split_key
from skiff.client.config import Config, load_kubeconfig
from skiff.client.informer import Informer, SharedInformerFactory
from skiff.client.rest import GVR, APIStatusError, Client, WatchEvent
from skiff.client.workqueue import RateLimiter, ShutDown, WorkQueue

__all__ = ["GVR", "APIStatusError", "Client", "Config", "Indexer", "Informer", "RateLimiter",
           "SharedInformerFactory", "ShutDown", "WatchEvent", "WorkQueue", "load_kubeconfig",
           "meta_namespace_key", "split_key"]
