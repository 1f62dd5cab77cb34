// `POST /message` load over raw keep-alive HTTP/1.1 sockets: a request is one
// string write, a response is parsed just enough (status, Content-Length) to
// match it to its request. Much lighter than http.request, so on a 2-core
// machine the load generator takes less CPU from the server it measures.
// Each body carries `BENCH<seq>.<monotonic ns>.` in `output`, which the
// gateway copies into the notification's message: the receiving client
// computes the POST → receipt latency on the same CLOCK_MONOTONIC.
import { connect } from 'node:net';
import { API_KEY, HOST_UUID, nowNs } from './common.mjs';

/** One keep-alive connection; requests may be pipelined, answers come in order. */
class Conn {
  constructor(port) {
    this.pending = [];
    this.buf = '';
    this.socket = connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.setEncoding('latin1');
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d) => this.#onData(d));
    this.socket.on('error', (err) => this.#fail(err));
    this.socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  #fail(err) {
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  #onData(d) {
    this.buf += d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buf.slice(0, end);
      const m = /content-length:\s*(\d+)/i.exec(head);
      let next;
      if (m) {
        next = end + 4 + Number(m[1]);
        if (this.buf.length < next) return;
      } else if (/transfer-encoding:\s*chunked/i.test(head)) {
        // Node answers pipelined requests chunked at times; our bodies are tiny: wait for the last chunk.
        const last = this.buf.indexOf('\r\n0\r\n\r\n', end + 4);
        if (last === -1) return;
        next = last + 7;
      } else next = end + 4;
      const status = Number(head.slice(9, 12));
      this.buf = this.buf.slice(next);
      this.pending.shift()?.resolve(status);
    }
  }

  /** Send one request; resolves with the status code. */
  send(raw) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(raw, 'latin1');
    });
  }

  close() {
    this.socket.destroy();
  }
}

/** A request unanswered this long counts as status 0, so a stuck connection cannot hang a run. */
const ANSWER_TIMEOUT_MS = 10_000;

/** `answer`, or 0 (after calling `onTimeout`) when it has not settled within `ms`. */
function within(answer, ms, onTimeout) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => { onTimeout(); resolve(0); }, ms);
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

/** A `/message` body for `userId` with the sequence number and send time in `output`. */
export function messageRequest(userId, seq, padding = '') {
  const body = `{"timestamp":${Math.floor(Date.now() / 1000)},"userId":${userId},"type":"host","hostUuid":"${HOST_UUID}","serviceUuid":"","icon":"","state":1,"notificationtype":"PROBLEM","output":"BENCH${seq}.${nowNs()}.${padding}","ackauthor":"","ackcomment":""}`;
  return `POST /message HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Keep-alive connections to a target's `/message`, with open- and closed-loop drivers. */
export class Poster {
  /** @param seqStart first sequence number - 1: two posters in one run use disjoint ranges. */
  constructor(port, connections, seqStart = 0) {
    this.conns = Array.from({ length: connections }, () => new Conn(port));
    this.seq = seqStart;
    /** Why requests got no answer (status 0), by error message. */
    this.errors = {};
    /** seq → status of every request answered, for lost/duplicate accounting. */
    this.statuses = new Map();
  }

  opened() {
    return Promise.all(this.conns.map((c) => c.opened));
  }

  #countError(message) {
    this.errors[message] = (this.errors[message] ?? 0) + 1;
  }

  /** One request on the least busy connection. */
  post(userId, padding = '') {
    let conn = this.conns[0];
    for (const c of this.conns) if (c.pending.length < conn.pending.length) conn = c;
    const seq = ++this.seq;
    return conn.send(messageRequest(userId, seq, padding)).then((status) => {
      this.statuses.set(seq, status);
      return status;
    });
  }

  /**
   * Open loop: `rate` requests/s for `seconds`, whatever the answers do
   * (coordinated omission would hide a stall). `pickUser()` chooses the target.
   */
  async openLoop(rate, seconds, pickUser, padding = '') {
    const started = nowNs();
    const total = Math.round(rate * seconds);
    const inflight = [];
    let sent = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((nowNs() - started) / 1e9) * rate));
        while (sent < due) {
          const answer = this.post(pickUser(), padding).catch((err) => { this.#countError(err.message); return 0; });
          inflight.push(within(answer, ANSWER_TIMEOUT_MS, () => this.#countError('no answer within 10 s')));
          sent++;
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const statuses = await Promise.all(inflight);
    return { sent, seconds: (nowNs() - started) / 1e9, statuses: countStatuses(statuses) };
  }

  /** Closed loop: every connection sends its next request as soon as the previous one is answered. */
  async closedLoop(seconds, pickUser) {
    const started = nowNs();
    const end = started + seconds * 1e9;
    const statuses = [];
    await Promise.all(this.conns.map(async (conn) => {
      while (nowNs() < end) {
        const seq = ++this.seq;
        const status = await within(conn.send(messageRequest(pickUser(), seq)).catch(() => 0), ANSWER_TIMEOUT_MS, () => this.#countError('no answer within 10 s'));
        statuses.push(status);
      }
    }));
    return { requests: statuses.length, seconds: (nowNs() - started) / 1e9, statuses: countStatuses(statuses) };
  }

  close() {
    for (const c of this.conns) c.close();
  }
}

function countStatuses(list) {
  const out = {};
  for (const s of list) out[s] = (out[s] ?? 0) + 1;
  return out;
}
