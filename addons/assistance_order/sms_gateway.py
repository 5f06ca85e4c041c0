# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The pure part of the SMS outbox: phone numbers, Kannel's HTTP interface,
the retry schedule and the meaning of delivery reports.

Nothing here touches the ORM; sms.py is the edge that stores the messages.
Kannel's smsbox takes a message by `GET /cgi-bin/sendsms?…` and calls the
`dlr-url` given with it when the SMSC reports on the delivery."""
import datetime as dt
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

from trytond.modules.assistance_policy.policy_import_rules import phone_key

E164 = re.compile(r'^\+[1-9]\d{9,14}$')

# Kannel's DLR types (the `%d` escape of dlr-url), see Kannel's user guide.
DLR_DELIVERED = 1       # delivered to the phone
DLR_UNDELIVERED = 2     # the SMSC gave up delivering to the phone
DLR_QUEUED = 4          # queued on the SMSC
DLR_SMSC_ACCEPTED = 8   # accepted by the SMSC
DLR_SMSC_REJECTED = 16  # rejected by the SMSC
DLR_ALL = 31

# `coding=2` makes Kannel send the text as UCS-2 (70 characters a part, every
# Cyrillic letter kept); `charset` says how *our* text parameter is encoded,
# Kannel converts it from UTF-8 to UCS-2 itself.
CODING_UCS2 = 2

Settings = namedtuple('Settings', [
        'url', 'username', 'password', 'sender', 'dlr_url', 'dlr_mask',
        'timeout', 'retry_delay', 'retry_factor', 'retry_max_delay',
        'max_attempts'])
DEFAULTS = Settings(
    url='http://127.0.0.1:13013/cgi-bin/sendsms',
    username='tryton', password='', sender='Assistance',
    dlr_url='http://127.0.0.1:8000',
    dlr_mask=DLR_ALL, timeout=10.0, retry_delay=60, retry_factor=2.0,
    retry_max_delay=3600, max_attempts=8)


class GatewayError(Exception):
    "The gateway did not take the message (down, unreachable, refused)"
    # Whether the gateway may have taken the message though we did not
    # hear it: such a message must not be sent again by itself.
    maybe_accepted = False


class GatewayAnswerLost(GatewayError):
    "The request reached the gateway but its answer was lost (timed out)"
    maybe_accepted = True


def e164(value):
    """Return the phone in E.164 (+79161234567) or None.

    The same reading of national Russian numbers (8 916…, 916…) as the
    identification search, so a phone found there is the phone we text."""
    digits = phone_key(value)
    if not digits or digits[0] == '0':
        return None
    return '+' + digits


def is_e164(value):
    return bool(value and E164.match(value))


def dlr_callback(base, database, gateway_id):
    """Return the dlr-url Kannel calls back: our route, the message's
    secret gateway id, and Kannel's escapes for the type and the answer."""
    path = '/%s/assistance_sms/dlr' % urllib.parse.quote(database, safe='')
    query = 'id=%s&type=%%d&answer=%%A' % urllib.parse.quote(gateway_id)
    return base.rstrip('/') + path + '?' + query


def sendsms_url(settings, phone, text, dlr_url=None):
    "Return the GET URL that asks Kannel's smsbox to send the text as UCS-2"
    params = {
        'username': settings.username,
        'password': settings.password,
        'to': phone,
        'text': text,
        'charset': 'UTF-8',
        'coding': str(CODING_UCS2),
        }
    if settings.sender:
        params['from'] = settings.sender
    if dlr_url:
        params['dlr-mask'] = str(settings.dlr_mask)
        params['dlr-url'] = dlr_url
    return settings.url + '?' + urllib.parse.urlencode(params)


def retry_delay(attempts, settings):
    """Return the seconds to wait after the n-th failed attempt:
    retry_delay, then multiplied by retry_factor each time, capped."""
    exponent = max(attempts - 1, 0)
    # Cap the exponent too: a huge power of a float overflows.
    delay = settings.retry_delay * min(
        settings.retry_factor ** min(exponent, 64), 1e12)
    return min(delay, settings.retry_max_delay)


def next_attempt(now, attempts, settings):
    "Return when to try again after the n-th failure, or None to give up"
    if attempts >= settings.max_attempts:
        return None
    return now + dt.timedelta(seconds=retry_delay(attempts, settings))


def dlr_outcome(dlr_type):
    """Return what a delivery report means for the message:
    'delivered', 'rejected' or None (an intermediate report)."""
    if dlr_type & DLR_DELIVERED:
        return 'delivered'
    if dlr_type & (DLR_UNDELIVERED | DLR_SMSC_REJECTED):
        return 'rejected'
    return None


# The states of a message whose acceptance by the gateway we have not heard.
UNANSWERED = {'queued', 'sending', 'unconfirmed'}


def report_state(state, dlr_type):
    """Return the state a delivery report moves a message in `state` to,
    or None when it changes nothing.  Reports may come in any order (Kannel
    calls the dlr-url once per report), so none takes back a delivery."""
    if state == 'delivered':
        return None
    outcome = dlr_outcome(dlr_type)
    if outcome:
        return outcome
    if state in UNANSWERED:
        # Taken by the gateway though we never heard its answer.
        return 'sent'
    return None


def send(url, timeout):
    """Call Kannel's sendsms; return its answer or raise GatewayError.

    smsbox answers 202 "0: Accepted for delivery" (or "3: Queued for later
    delivery" while the SMSC is away: bearerbox keeps it, so it is sent
    for us too); any other status, or no connection, is a failure to retry.
    Once the request is sent, a lost answer (a timeout, a cut connection)
    raises GatewayAnswerLost: Kannel may have taken the message."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        body = error.read().decode('utf-8', 'replace').strip()
        raise GatewayError('HTTP %s: %s' % (error.code, body)) from error
    except (urllib.error.URLError, ValueError) as error:
        # urllib wraps what fails before the request is sent in URLError.
        raise GatewayError(_reason(error)) from error
    except (OSError, http.client.HTTPException) as error:
        raise GatewayAnswerLost(_reason(error)) from error
    with response:
        try:
            body = response.read().decode('utf-8', 'replace').strip()
        except (OSError, http.client.HTTPException) as error:
            raise GatewayAnswerLost(_reason(error)) from error
        status = response.status
    if not 200 <= status < 300:
        raise GatewayError('HTTP %s: %s' % (status, body))
    return body


def _reason(error):
    reason = getattr(error, 'reason', error)
    return str(reason) or error.__class__.__name__
