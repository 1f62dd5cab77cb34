import type { IncomingMessage, ServerResponse } from 'node:http';
import { ReceiptsBody } from '@pushgate/protocol';
import { readJsonBody } from '../transport/http/body.js';
import { authenticateClient, type ClientAuth } from '../transport/http/client-auth.js';
import { answerRefusal } from '../transport/refusals.js';
import type { Receipts } from './receipts.js';

/**
 * `POST /receipts?userId=<n>&browserUuid=<device>`: receipts from a service
 * worker or an SSE page (docs/protocol/extensions.md "Receipts"),
 * authenticated as its `/events` stream is. Body
 * `{"receipts":[{"id":<notification id>,"kind":"shown"},…]}`; answered
 * `204` once taken (whether each counts is the owner's business: a
 * duplicate is not an error).
 */

/** Path of the endpoint. */
export const RECEIPTS_PATH = '/receipts';

/** Largest body taken, bytes (50 receipts fit with room to spare). */
const MAX_BODY_BYTES = 16 * 1024;

/** The route answering `POST /receipts`. */
export function receiptsRoute(receipts: Receipts, auth: ClientAuth): { path: string; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> } {
  return {
    path: RECEIPTS_PATH,
    handler: async (req, res) => {
      if (req.method !== 'POST') return answerRefusal(res, 'GW_REFUSE_CLIENT_POST_METHOD');
      const who = await authenticateClient(req, auth, true);
      if (!who.ok) {
        req.resume();
        return answerRefusal(res, who.refusal);
      }
      const body = await readJsonBody(req, MAX_BODY_BYTES);
      if (!body.ok) return answerRefusal(res, body.reason === 'too-large' ? 'GW_REFUSE_CLIENT_BODY_TOO_LARGE' : 'GW_REFUSE_CLIENT_BODY', body.detail);
      const parsed = ReceiptsBody.safeParse(body.value);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
        return answerRefusal(res, 'GW_REFUSE_CLIENT_BODY', detail);
      }
      for (const r of parsed.data.receipts) receipts.take(who.userId, who.browserUuid, r, 'http');
      res.writeHead(204);
      res.end();
    },
  };
}
