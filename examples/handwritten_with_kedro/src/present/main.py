"""Node 'present': plain Python after the Kedro node; it turns the quote into a sentence.

It needs neither Kedro nor kedro-krt; its *_pb2.py files, compiled by `kedro-krt build` with
today's protoc, need a current protobuf, so it runs on the same image as node 'price' (kre-py's
images have protobuf 3.20).
"""

from internal_nodes_pb2 import Priced
from public_input_pb2 import QuoteResponse


async def handler(ctx, data):
    priced = Priced()
    if not data.Unpack(priced):
        raise TypeError(f"node 'present' expects entrypoint.Priced, got {data.type_url}")
    req = priced.request
    engines = f"{req.engines} {req.engine_type} engine{'s' if req.engines != 1 else ''}"
    text = f"{req.shuttle_type}, {engines}: {priced.price:,.2f} {priced.currency} ({priced.band})"
    return QuoteResponse(
        text=text, price=priced.price, band=priced.band, currency=priced.currency
    )
