import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Where does it go and how urgent is it? For now: the mailbox's queue, normal priority, the
 * customer's language (Content-Language, else the queue's or the default). Rules, priority schemes
 * and escalation plug in here.
 */
export const classifyStage: DecideStage = {
  name: 'classify',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const thread = need(msg.notes.thread, 'thread');
    const queue = thread.kind === 'existing' ? thread.caseRow.queue : ctx.mailboxes.queueOf(msg.arrival.mailbox);
    const languages = ctx.config.templates.languages;
    const declared = parsed.contentLanguage?.split(/[,;]/)[0]?.trim().toLowerCase().split('-')[0] ?? null;
    const language =
      thread.kind === 'existing'
        ? thread.caseRow.language
        : declared !== null && languages.includes(declared)
          ? declared
          : (ctx.config.queues[queue]?.language ?? ctx.config.cases.defaultLanguage);
    msg.notes.classification = { queue, priority: thread.kind === 'existing' ? thread.caseRow.priority : 'normal', language };
    return NEXT;
  },
};
