import { isStaff } from '../../cases/staff.js';
import { formMail } from '../../mail-in/form-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Does a contact form or shop system write this on behalf of the person in Reply-To
 * (mailboxes[].formSenders)? Then that person is the writer (the sender stage takes them) and the
 * form's own address, even one of ours or a no-reply one, is neither a loop nor a machine's mail.
 * Form mail without a usable Reply-To is quarantined: someone filled in the form, and nobody could
 * be answered.
 */
export const formMailStage: DecideStage = {
  name: 'form-mail',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const form = formMail(parsed, msg.arrival.mailbox.formSenders, (address) =>
      ctx.mailboxes.isOwnAddress(address) ? 'one of our own addresses' : isStaff(ctx.config, address) ? 'a staff address' : null,
    );
    msg.notes.form = form;
    if (form?.kind === 'unusable') {
      return { end: 'quarantined', reason: `form mail from ${form.via} (mailboxes[].formSenders) that names nobody to answer: ${form.why}` };
    }
    return NEXT;
  },
};
