"""Node 'intake': checks a fleet request and numbers its shuttles. Plain Python, no Kedro.

It sends the fleet on as entrypoint.Fleet, the message both node 'price' (the Kedro pipeline)
and node 'audit' (Go) read.
"""

from internal_nodes_pb2 import Fleet
from public_input_pb2 import FleetRequest


async def handler(ctx, data):
    req = FleetRequest()
    if not data.Unpack(req):  # Unpack into the wrong class gives False and an empty message
        raise TypeError(f"node 'intake' expects entrypoint.FleetRequest, got {data.type_url}")
    customer = req.customer.strip()
    if not customer:
        raise ValueError("customer is required")
    if not req.shuttles:
        raise ValueError(f"the fleet of {customer} has no shuttle")
    fleet = Fleet(customer=customer)
    if req.HasField("currency"):
        fleet.currency = req.currency.strip().upper()
    for number, shuttle in enumerate(req.shuttles, 1):
        row = fleet.shuttles.add()
        row.CopyFrom(shuttle)
        if not row.shuttle_id:
            row.shuttle_id = f"{customer}-{number}"
    ctx.logger.info(f"{customer}: {len(fleet.shuttles)} shuttle(s)")
    return fleet
