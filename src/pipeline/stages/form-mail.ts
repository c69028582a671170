import { isStaff } from '../../cases/staff.js';
import { formMail, groupMail, listAddresses } from '../../mail-in/form-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Is it written on someone's behalf: by a contact form or shop system (mailboxes[].formSenders),
 * or relayed by a group at our own address (a Google Group support@…) or someone else's list that
 * rewrote its From? Then
 * that person is the writer (the sender stage takes them), and the form's or group's own address,
 * even one of ours or a no-reply one, is neither a loop nor a machine's mail. Also notes whether it
 * came through a list of our own (its list headers are then no sign of bulk mail). Such mail
 * without a usable writer is noted as such (the sender stage quarantines it).
 */
export const formMailStage: DecideStage = {
  name: 'form-mail',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const refuse = (address: string): string | null =>
      ctx.mailboxes.isOwnAddress(address) ? 'one of our own addresses' : isStaff(ctx.config, address) ? 'a staff address' : null;
    const lists = listAddresses(parsed);
    const own = lists.find((a) => ctx.mailboxes.isOwnAddress(a)) ?? null;
    msg.notes.ownList = own;
    let form = formMail(parsed, msg.arrival.mailbox.formSenders, refuse);
    if (form === null && own !== null) form = groupMail(parsed, own, 'group', refuse);
    if (form === null) {
      // Someone else's list that rewrote the From: the writer if it names one (else the list's
      // address stays the sender, as list mail it is never answered automatically).
      const relayed = lists.map((a) => groupMail(parsed, a, 'list', refuse)).find((r) => r !== null) ?? null;
      if (relayed?.kind === 'on-behalf') form = relayed;
    }
    // Form mail that names nobody usable is quarantined by the sender stage (who wrote it?), after
    // the loop guard: our own mail relayed back through our group is a loop, not a form.
    msg.notes.form = form;
    return NEXT;
  },
};
