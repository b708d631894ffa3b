"""Node 'present': plain Python after the Kedro node; it turns the quote into a sentence.

It needs neither Kedro nor kedro-krt, so it runs on KRE's stock kre-py image: `kedro-krt build`
writes its *_pb2.py in the portable style that kre-py's protobuf 3.20.1 imports.
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
