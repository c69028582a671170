import type { AppContext } from '../context.js';
import { headerFields, judge, readHeaderBlock, trustedResults, verifySender, type AuthJudgement } from '../mail-in/sender-auth.js';
import type { Inbound } from './types.js';

/**
 * Is this address really the message's sender? security.senderAuth decides how (sender stage,
 * docs/how-it-works.md "Threading and trust"). Asked by the loop guard (mail From one of our own
 * addresses) and by the sender stage; the answer is kept on the message, so mailauth's DNS look-ups
 * run once per message and address.
 */
export async function authenticateSender(msg: Inbound, ctx: AppContext, address: string): Promise<AuthJudgement> {
  const known = msg.notes.senderAuth;
  if (known !== undefined && known.address === address) return known.judgement;
  const judgement = await check(msg, ctx, address);
  msg.notes.senderAuth = { address, judgement };
  return judgement;
}

async function check(msg: Inbound, ctx: AppContext, address: string): Promise<AuthJudgement> {
  const policy = ctx.config.security.senderAuth;
  switch (policy.mode) {
    case 'none':
      return { verdict: 'none', why: 'sender not authenticated (security.senderAuth.mode none)' };
    case 'trusted-header': {
      const fields = headerFields(await readHeaderBlock(msg.arrival.raw));
      const { results, ignored } = trustedResults(fields, policy.authservId ?? '', policy.trustedHops);
      // From the null sender (a delivery report) SPF checked the HELO name: parsed's Return-Path is
      // the one the delivering agent wrote (MTAs drop a sender's own).
      const nullSender = msg.arrival.envelopeFrom === '' || (msg.arrival.envelopeFrom == null && msg.notes.parsed?.returnPath === '');
      const j = judge(results, address, `Authentication-Results of ${policy.authservId}`, nullSender);
      return ignored > 0 ? { ...j, why: `${j.why}; ${ignored} Authentication-Results claiming ${policy.authservId} ignored (not written by our trusted hop)` } : j;
    }
    case 'verify':
      try {
        return await verifySender(
          {
            blob: msg.arrival.raw,
            ip: msg.arrival.client?.ip ?? null,
            helo: msg.arrival.client?.helo ?? null,
            mailFrom: msg.arrival.envelopeFrom,
            mta: policy.authservId ?? ctx.config.listener.hostname,
            resolver: ctx.resolveDns,
          },
          address,
        );
      } catch (err) {
        return { verdict: 'none', why: `sender verification failed: ${(err as Error).message}` };
      }
  }
}
