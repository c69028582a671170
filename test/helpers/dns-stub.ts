import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/**
 * A tiny authoritative DNS server on a loopback UDP port, for tools that do their own DNS (a real
 * SpamAssassin verifying DKIM): TXT records from a map, NXDOMAIN for every other name and an empty
 * answer for other types of a known name. No recursion, no internet: what a clean sender's domain
 * looks like to a receiver — its DKIM key published, listed on no blocklist.
 */
export interface DnsStub {
  readonly port: number;
  /** Every question asked: "name TYPE". */
  readonly questions: string[];
  close(): Promise<void>;
}

const TYPE_TXT = 16;

function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let o = offset;
  for (;;) {
    const len = msg[o];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) return { name: labels.join('.'), next: o + 1 };
    if ((len & 0xc0) !== 0) throw new Error('compressed names in questions are not supported');
    labels.push(msg.subarray(o + 1, o + 1 + len).toString('latin1'));
    o += 1 + len;
  }
}

function txtRdata(value: string): Buffer {
  const chunks: Buffer[] = [];
  const bytes = Buffer.from(value, 'latin1');
  for (let i = 0; i < bytes.length; i += 255) {
    const part = bytes.subarray(i, i + 255);
    chunks.push(Buffer.from([part.length]), part);
  }
  return Buffer.concat(chunks);
}

function answer(query: Buffer, records: ReadonlyMap<string, string>, questions: string[]): Buffer {
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  const { name, next } = readName(query, 12);
  const qtype = query.readUInt16BE(next);
  const question = query.subarray(12, next + 4);
  const key = name.toLowerCase().replace(/\.$/, '');
  questions.push(`${key} ${qtype === TYPE_TXT ? 'TXT' : qtype}`);
  const value = records.get(key);
  const known = value !== undefined;
  const rcode = known ? 0 : 3;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  // QR, authoritative, the client's RD bit; RA; rcode.
  header.writeUInt16BE(0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  const answers: Buffer[] = [];
  if (known && qtype === TYPE_TXT) {
    const rdata = txtRdata(value);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name of the question
    rr.writeUInt16BE(TYPE_TXT, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(300, 6);
    rr.writeUInt16BE(rdata.length, 10);
    answers.push(rr, rdata);
  }
  header.writeUInt16BE(answers.length > 0 ? 1 : 0, 6);
  return Buffer.concat([header, question, ...answers]);
}

export async function startDnsStub(records: ReadonlyMap<string, string>): Promise<DnsStub> {
  const socket: Socket = createSocket('udp4');
  const questions: string[] = [];
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    try {
      socket.send(answer(msg, records, questions), from.port, from.address);
    } catch {
      // A packet we cannot read gets no answer (the client times out, as with a broken server).
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    port: socket.address().port,
    questions,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
