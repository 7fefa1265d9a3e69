// The official twilio-node SDK pointed at otpgate the documented way: a custom HTTP client
// (advanced-examples/custom-http-client.md) that sends Twilio's addresses to otpgate's host.
import twilio from 'twilio';

export const base = process.env.OTPGATE_BASE_URL;
if (!base) throw new Error('OTPGATE_BASE_URL is not set (scripts/twilio-sdks sets it)');

const TWILIO_VERIFY = /^https:\/\/verify(\.[A-Za-z0-9-]+)*\.twilio\.com/;

class OtpgateRequestClient extends twilio.RequestClient {
  request(opts) {
    return super.request({ ...opts, uri: opts.uri.replace(TWILIO_VERIFY, base) });
  }
}

/** A Twilio client for an otpgate tenant: its account SID and one of its API keys. */
export function client(accountSid, apiKey) {
  return twilio(accountSid, apiKey, { httpClient: new OtpgateRequestClient() });
}

export const tenant = {
  sid: process.env.OTPGATE_TWILIO_ACCOUNT_SID,
  key: process.env.OTPGATE_TWILIO_KEY,
};
export const other = {
  sid: process.env.OTPGATE_TWILIO_OTHER_ACCOUNT_SID,
  key: process.env.OTPGATE_TWILIO_OTHER_KEY,
};

/** Runs `call`, which must fail with the SDK's own RestException of this status and code. */
export async function rejects(call, status, code) {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof twilio.RestException)) throw error;
    if (error.status !== status || error.code !== code) {
      throw new Error(`expected ${status}/${code}, got ${error.status}/${error.code}: ${error.message}`);
    }
    return error;
  }
  throw new Error(`expected a RestException ${status}/${code}, the call succeeded`);
}

/** The newest code otpgate sent `to` (test keys deliver to the test outbox). */
export async function codeFor(to) {
  const res = await fetch(`${base}/api/v1/test/messages?to=${encodeURIComponent(to)}`, {
    headers: { 'X-API-Key': tenant.key },
  });
  if (res.status !== 200) throw new Error(`outbox: ${res.status}`);
  const messages = await res.json();
  if (!messages.length) throw new Error(`no message to ${to}`);
  return messages[0].code;
}

export function wrong(code) {
  return (code[0] === '9' ? '0' : String(Number(code[0]) + 1)) + code.slice(1);
}

/** A phone number of its own for each test (the suite runs many). */
let counter = 0;
export function phone() {
  counter += 1;
  return `+1415555${String((Date.now() + counter * 7919) % 10000).padStart(4, '0')}`;
}
