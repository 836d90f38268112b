#!/usr/bin/env python3
"""moto_server, with one moto bug fixed for driftlog's data-service tests: moto 5 gives
every DB instance the same DbiResourceId ("db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U"), which AWS Config
uses as the instance's resourceId, so two instances would be one resource. Here each
instance gets its own random id, as RDS does. Arguments are moto_server's (-H, -p)."""
import random
import string
import sys

from moto.rds import models
from moto.server import main

_init = models.DBInstance.__init__


def _unique_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    alphabet = string.ascii_uppercase + string.digits
    self.dbi_resource_id = "db-" + "".join(random.choice(alphabet) for _ in range(26))


models.DBInstance.__init__ = _unique_init

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
