import { it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { startDovecot } from '../helpers/dovecot.js';

it('explore', async () => {
  const s = await startDovecot({ users: [{ user: 'a', password: 'pw' }] });
  try {
    const c = new ImapFlow({ ...s.imapOptions('a'), autoIdleDelay: 100 });
    c.on('error', (e) => console.log('error event', e.message));
    c.on('close', () => console.log('close event'));
    c.on('exists', (e) => console.log('exists', e));
    c.on('mailboxOpen', (m) => console.log('mailboxOpen', m.path, m.uidValidity));
    c.on('mailboxClose', (m) => console.log('mailboxClose', m.path));
    await c.connect();
    console.log('caps', [...c.capabilities.keys()].join(' '));
    await s.append('a', 'Subject: x\r\n\r\nhi\r\n', 'Work');
    const mb = await c.mailboxOpen('Work');
    console.log('perm', [...(mb.permanentFlags ?? [])], 'uidv', mb.uidValidity, 'exists', mb.exists);
    await new Promise((r) => setTimeout(r, 300));
    console.log('idling', c.idling);
    await s.append('a', 'Subject: y\r\n\r\nhi\r\n', 'Work');
    await new Promise((r) => setTimeout(r, 1500));
    const o = await s.connect('a');
    await o.mailboxDelete('Work');
    console.log('deleted');
    await new Promise((r) => setTimeout(r, 1500));
    console.log('usable', c.usable, 'mailbox', c.mailbox && c.mailbox.path);
    try { console.log(await c.search({ all: true }, { uid: true })); } catch (e) { console.log('search err', (e as Error).message, (e as any).code); }
    await o.mailboxCreate('Work');
    await o.logout();
    await s.append('a', 'Subject: z\r\n\r\nhi\r\n', 'Work');
    try { const m2 = await c.mailboxOpen('Work'); console.log('reopen', m2.uidValidity, m2.exists); } catch (e) { console.log('reopen err', (e as Error).message); }
    // wrong password
    const bad = new ImapFlow({ ...s.imapOptions('a'), auth: { user: 'a', pass: 'nope' } });
    bad.on('error', () => undefined);
    try { await bad.connect(); } catch (e) { const x = e as any; console.log('auth err', x.message, x.code, x.authenticationFailed, x.serverResponseCode, x.constructor.name); }
    await s.down();
    await new Promise((r) => setTimeout(r, 500));
    console.log('after down usable', c.usable);
    const d = new ImapFlow({ ...s.imapOptions('a') });
    d.on('error', () => undefined);
    try { await d.connect(); } catch (e) { const x = e as any; console.log('down err', x.message, x.code); }
  } finally {
    await s.stop();
  }
}, 30000);
