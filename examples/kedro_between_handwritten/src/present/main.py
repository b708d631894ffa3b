"""Node 'present': the fleet's quotes with a total and a one-line summary. Plain Python."""

from internal_nodes_pb2 import Priced
from public_input_pb2 import FleetResponse


async def handler(ctx, data):
    priced = Priced()
    if not data.Unpack(priced):
        raise TypeError(f"node 'present' expects entrypoint.Priced, got {data.type_url}")
    total = round(sum(q.price for q in priced.quotes), 2)
    currency = priced.quotes[0].currency if priced.quotes else ""
    count = len(priced.quotes)
    summary = f"{count} shuttle{'s' * (count != 1)} for {priced.customer}: {total:,.2f} {currency}"
    return FleetResponse(
        customer=priced.customer,
        quotes=priced.quotes,
        total=total,
        currency=currency,
        summary=summary,
    )
