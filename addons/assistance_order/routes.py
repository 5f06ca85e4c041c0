# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The delivery reports of Kannel (the dlr-url of every message we send).

Kannel calls `/<database>/assistance_sms/dlr?id=<gateway id>&type=%d&answer=%A`
(see sms_gateway.dlr_callback).  The gateway id is a random 128-bit token
known only to us and to Kannel, so a caller who does not know it can mark no
message: an unknown id is 404."""
from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.wsgi import app


@app.route('/<database_name>/assistance_sms/dlr', methods={'GET', 'POST'})
@with_pool
@with_transaction(readonly=False)
def delivery_report(request, pool):
    Sms = pool.get('assistance.sms')
    values = request.values
    gateway_id = values.get('id', '')
    try:
        dlr_type = int(values.get('type', ''))
    except ValueError:
        abort(HTTPStatus.BAD_REQUEST)
    if not gateway_id:
        abort(HTTPStatus.BAD_REQUEST)
    message = Sms.receive_delivery_report(
        gateway_id, dlr_type, values.get('answer', ''))
    if message is None:
        abort(HTTPStatus.NOT_FOUND)
    return Response('OK', status=HTTPStatus.OK, content_type='text/plain')
