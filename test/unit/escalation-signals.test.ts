import { describe, expect, it } from 'vitest';
import { parseAgentCommands } from '../../src/cases/agent-commands.js';
import { mentionsEscalation, ourTextMatcher, parseUrgentSubject, withoutRepeatedFooter, writtenText } from '../../src/cases/escalation-signals.js';
import { alertRecipients } from '../../src/cases/escalation.js';

/** The pure signals of issue 5: urgent subjects, the escalation keyword, agent commands. */

describe('parseUrgentSubject: every separator, case and case-number form', () => {
  it.each([
    // separators
    ['Urgent – VPN down', 'VPN down', null],
    ['Urgent — VPN down', 'VPN down', null],
    ['Urgent - VPN down', 'VPN down', null],
    ['Urgent -VPN down', 'VPN down', null],
    ['Urgent- VPN down', 'VPN down', null],
    ['Urgent: VPN down', 'VPN down', null],
    ['Urgent:VPN down', 'VPN down', null],
    ['Urgent–VPN down', 'VPN down', null],
    ['Urgent -- VPN down', 'VPN down', null],
    ['Urgent : VPN down', 'VPN down', null],
    // any case
    ['URGENT: VPN down', 'VPN down', null],
    ['urgent – vpn down', 'vpn down', null],
    ['UrGeNt — VPN down', 'VPN down', null],
    ['URGENT!!: VPN down', 'VPN down', null],
    // reply and forward prefixes
    ['Re: Urgent – VPN down', 'VPN down', null],
    ['Fwd: URGENT: VPN down', 'VPN down', null],
    ['AW: WG: Urgent - VPN down', 'VPN down', null],
    // our tag, before or after the marker
    ['[Case #10042] Urgent – VPN down', 'VPN down', 10042],
    ['Re: [Case #10042] Urgent – VPN down', 'VPN down', 10042],
    ['Urgent – [Case #10042] VPN down', 'VPN down', 10042],
    ['Urgent: VPN down [case #10042]', 'VPN down', 10042],
    ['URGENT: [CASE # 10042] VPN down', 'VPN down', 10042],
    // bare numbers
    ['Urgent – #10042 VPN down', 'VPN down', 10042],
    ['Urgent: VPN down (#10042)', 'VPN down', 10042],
    ['Urgent – case 10042', '', 10042],
    ['Urgent – case 10042: VPN down', 'VPN down', 10042],
    ['Urgent: Case #10042 VPN down', 'VPN down', 10042],
    ['Urgent – VPN down, case no. 10042', 'VPN down', 10042],
    ['Urgent – VPN down (case number 10042)', 'VPN down', 10042],
    ['#10042 Urgent – VPN down', 'VPN down', 10042],
    ['case 10042 – Urgent: VPN down', 'VPN down', 10042],
    // numbers that are no case numbers
    ['Urgent – printer #2 jammed', 'printer #2 jammed', null],
    // automail F4: exclamation marks, brackets and stars as the marker
    ['URGENT!! VPN down', 'VPN down', null],
    ['Urgent! VPN down', 'VPN down', null],
    ['URGENT!!! - VPN down', 'VPN down', null],
    ['[URGENT] VPN down', 'VPN down', null],
    ['[Urgent]: VPN down', 'VPN down', null],
    ['[URGENT!] – VPN down', 'VPN down', null],
    ['(Urgent) VPN down', 'VPN down', null],
    ['*URGENT* VPN down', 'VPN down', null],
    ['**Urgent** VPN down', 'VPN down', null],
    ['Re: [URGENT] [Case #10042] VPN down', 'VPN down', 10042],
    // an "[EXTERNAL]" mark of the customer's mail system before the marker
    ['Fwd: [EXTERNAL] Urgent: VPN down', 'VPN down', null],
    ['[EXT] Urgent – VPN down', 'VPN down', null],
    ['RE: [External Email] [URGENT] VPN down', 'VPN down', null],
    ['*EXTERNAL* RE: Urgent – VPN down', 'VPN down', null],
    ['[EXTERNAL] Re: [Case #10042] Urgent: VPN down', 'VPN down', 10042],
    // Italian reply prefixes
    ['R: Urgent – VPN down', 'VPN down', null],
    ['RIF: Urgent – VPN down', 'VPN down', null],
    ['R: RIF: [Case #10042] Urgent: VPN down', 'VPN down', 10042],
    // Unicode hyphens as the separator
    ['Urgent \u2010 VPN down', 'VPN down', null],
    ['Urgent \u2011 VPN down', 'VPN down', null],
    ['Urgent \u2212 VPN down', 'VPN down', null],
    ['Urgent\u2212 VPN down', 'VPN down', null],
    ['Urgent \u2015 VPN down', 'VPN down', null],
    ['Urgent \u2013 case 10042 \u2010 VPN down', 'VPN down', 10042],
    ['#10042 \u2010 Urgent \u2010 VPN down', 'VPN down', 10042],
  ])('%s → topic "%s", case %s', (subject, topic, caseNumber) => {
    expect(parseUrgentSubject(subject)).toEqual({ topic, caseNumber });
  });

  it('uses the configured tag prefix', () => {
    expect(parseUrgentSubject('[Ticket 77] Urgent: it broke', 'Ticket ')).toEqual({ topic: 'it broke', caseNumber: 77 });
  });

  it.each([
    'VPN down',
    'Urgently need help',
    'Urgent care billing question',
    'Urgent-care billing question',
    'Not urgent: question about invoices',
    'Re: [Case #10001] We have received your request: Urgent – VPN down',
    'Question – urgent',
    'urgent',
    '',
    // nothing after the marker, like "urgent" alone
    'Urgent:',
    'URGENT!!',
    'Urgent –',
    '[URGENT]',
    '*URGENT*',
    'Re: Urgent:',
    '[Case #10042] Urgent:',
    // still not urgent
    'not urgent',
    'Not urgent – VPN question',
    'RE: not urgent: VPN question',
    '[EXTERNAL] Not urgent: VPN question',
    'Urgent\u2010care billing question',
    'Urgent\u2011care billing question',
    'Urgent!VPN down',
    '[Urgent care] billing',
    'R2: Urgent – VPN down',
  ])('is not an urgent subject: %s', (subject) => {
    expect(parseUrgentSubject(subject)).toBeNull();
  });

  it.each([
    ['Pilne: VPN nie działa', 'VPN nie działa'],
    ['Odp: PILNE – VPN nie działa', 'VPN nie działa'],
    ['Срочно: не работает VPN', 'не работает VPN'],
    ['Терміново: VPN', 'VPN'],
    ['ACİL: VPN çalışmıyor', 'VPN çalışmıyor'],
    ['YNT: Acil - VPN çalışmıyor', 'VPN çalışmıyor'],
    ['Επείγον: Δεν λειτουργεί το VPN', 'Δεν λειτουργεί το VPN'],
    ['ΑΠ: ΕΠΕΙΓΟΝ – VPN', 'VPN'],
    ['Brådskande: VPN nere', 'VPN nere'],
    ['Haster: VPN nede', 'VPN nede'],
    ['Kiireellinen: VPN ei toimi', 'VPN ei toimi'],
    ['Naléhavé: VPN nefunguje', 'VPN nefunguje'],
    ['Sürgős: VPN nem működik', 'VPN nem működik'],
    ['至急：VPNが使えません', 'VPNが使えません'],
    ['【至急】VPNが使えません', 'VPNが使えません'],
    ['Re: 【緊急】VPN障害', 'VPN障害'],
    ['紧急：VPN无法连接', 'VPN无法连接'],
    ['回复：【紧急】VPN无法连接', 'VPN无法连接'],
    ['긴급: VPN 연결 안 됨', 'VPN 연결 안 됨'],
    ['عاجل: الشبكة الافتراضية لا تعمل', 'الشبكة الافتراضية لا تعمل'],
    ['דחוף: ה-VPN לא עובד', 'ה-VPN לא עובד'],
    ['Réf. : Urgent : VPN en panne', 'VPN en panne'],
    ['至急', null],
    ['【至急】', null],
    ['Pilnej uwagi wymaga faktura', null],
    ['Hastesak: VPN', null],
  ])('urgent in more languages and CJK brackets: %s', (subject, topic) => {
    expect(parseUrgentSubject(subject)?.topic ?? null).toBe(topic);
  });
});

describe('mentionsEscalation: the word in the languages customers write', () => {
  it.each([
    'Graag escaleren naar uw manager.',
    'Dit is een escalatie.',
    'Kan ni eskalera ärendet?',
    'Vennligst eskaler saken. Jeg ønsker eskalering.',
    'Proszę eskalować zgłoszenie.',
    'Prosím eskalujte to.',
    'Voisitteko eskaloida asian?',
    'Lütfen eskalasyon yapın.',
    'Прошу эскалировать обращение.',
    'Прошу ескалювати звернення.',
    'エスカレーションをお願いします。',
    '에스컬레이션 부탁드립니다.',
  ])('yes: %s', (text) => {
    expect(mentionsEscalation(text)).toBe(true);
  });

  it.each([
    'Bitte nicht eskalieren.',
    'U hoeft niet escaleren, het werkt weer.',
    'Ni behöver inte eskalera.',
    'Proszę nie eskalować.',
    'Не эскалируйте, пожалуйста, всё работает.',
    'Die eskalierenden Kosten',
    'escalatorul',
  ])('no: %s', (text) => {
    expect(mentionsEscalation(text)).toBe(false);
  });
});

describe('mentionsEscalation: whole words, any inflection', () => {
  it.each([
    'Please escalate this.',
    'ESCALATE!',
    'Escalating to your manager would help.',
    'I escalated this yesterday',
    'This is an escalation.',
    'Two escalations in a week',
    'he escalates everything',
    'Can you (escalate) it',
    '#escalate 2',
    'Bitte eskalieren Sie das.',
    'Das ist eine Eskalation.',
    'Die Lage eskaliert.',
    // next to addresses, links and identifiers, but not inside them
    'Please escalate this to escalations@cust.example.',
    'Please escalate: https://status.cust.example/incident/4711',
    '[escalate](https://wiki.cust.example/howto)',
    'escalate ESCALATION-4711 please',
    'Please escalate ticket #4711',
    'escalation-level 2 please',
    'escalate/fix it',
    'Escalate.',
    // negations that decline nothing (h3e F2)
    'Why didn’t you escalate this?',
    'Why was this not escalated?',
    'Warum wurde das nicht eskaliert?',
    'If they do not answer, escalate it.',
    'I did not want to escalate, but now I must: please escalate this.',
    'Nobody escalated it',
    'Is there no escalation path?',
  ])('yes: %s', (text) => {
    expect(mentionsEscalation(text)).toBe(true);
  });

  it.each([
    'The escalator in building 4 is broken.',
    'Escalators are down',
    'We should de-escalate the tone',
    'escalatory language',
    'unescalated',
    'Eskalationsstufe',
    'nothing to see here',
    // automail F3: addresses, links, identifiers, Unicode hyphens
    'Could you send the contract again? Please copy our team at escalations@cust.example.',
    'Write to <Escalation.Team@cust.example>, they know.',
    'mailto:escalate@cust.example',
    'Could you send the contract again? https://wiki.cust.example/escalate/howto',
    'See (https://wiki.cust.example/Escalation_Process).',
    'See www.cust.example/escalations for the process.',
    'See wiki.cust.example/escalate/howto',
    'Could you send the contract again? Reference ESCALATION-4711 in our tracker.',
    'Tracker keys ESCALATION_12 and escalation\u20114711',
    'Our team lead asked us to de\u2011escalate the situation with your sales rep.',
    'We should de\u2010escalate',
    'de\u2212escalation',
    'de\u00adescalate',
    'de\uff0descalate',
    // a request the writer declines (h3e F2)
    'There is no need to escalate this.',
    'No need for escalation, just a question.',
    'Please don’t escalate.',
    "please don't escalate this yet",
    'Please do not escalate this.',
    'I do not want to escalate this.',
    "We don't need to escalate.",
    'This does not need to be escalated.',
    'This should not be escalated.',
    'I would prefer not to escalate.',
    'Let us solve it without escalating.',
    'No escalation needed.',
    'This is not an escalation.',
    'Escalation is not needed.',
    'An escalation isn’t necessary.',
    'Bitte nicht eskalieren.',
    'Das muss nicht eskaliert werden.',
    'Keine Eskalation nötig.',
    'Ohne Eskalation, bitte.',
    'Eskalation nicht nötig.',
  ])('no: %s', (text) => {
    expect(mentionsEscalation(text)).toBe(false);
  });
});

describe('mentionsEscalation: a job title in the closing signature is no request', () => {
  it.each([
    ['e9: name | title, then the company', 'Could you send the contract again?\n\nJohn Smith | Head of Customer Escalations\nACME Corp, 1 Main St'],
    ['e9r: the same signature under a reply', 'Thanks, got it.\n\nJohn Smith | Head of Customer Escalations\nACME Corp, 1 Main St'],
    ['no blank line above the signature', 'Could you send the contract again?\nJohn Smith | Head of Customer Escalations\nACME Corp, 1 Main St'],
    ['sign-off, name, title line', 'Could you send it?\n\nThanks,\nJohn Smith\nEscalations Team\nACME Corp'],
    ['singular with a role word', 'Could you send it?\n\nJohn Smith\nEscalation Manager | ACME Corp\n+1 555 1234'],
    ['German', 'Können Sie den Vertrag schicken?\n\nAnna-Lena M. Meyer | Leiterin Eskalationen'],
    ['a particle in the name, "•" between the parts', 'Could you send it?\n\nLudwig van Beethoven • Customer Escalations • EMEA'],
    ['a hotline with its number (h3e F4)', 'Could you send it?\n\nJane Doe\nACME IT Services | 24/7 Escalation Hotline +49 30 1234'],
    ['an escalation contact line', 'Could you send it?\n\nJane Doe\nService Desk +1 (555) 0100 | Escalation Contact: Max Boss'],
  ])('no: %s', (_what, text) => {
    expect(mentionsEscalation(text)).toBe(false);
  });

  it.each([
    ['the verb in the text above the signature', 'Please escalate this.\n\nJohn Smith | Head of Customer Escalations'],
    ['the singular without a role word', 'Could you send the contract again?\n\nJane Doe\nEscalation Request'],
    ['the verb in title case after a name', 'Could you send it?\n\nJane Doe\nPlease Escalate'],
    ['not in title case', 'Could you send it?\n\nJohn Smith\nplease handle all escalations'],
    ['a sentence after the name line', 'Hello.\n\nJohn Smith\nThe Escalations Are Too Slow, Fix It Now.'],
    ['no name line above the title', 'Could you send it?\n\nHead of Customer Escalations needed'],
    ['the noun in the text, a name below', 'We need these escalations handled faster\n\nJohn Smith'],
    ['nothing written above the "signature"', 'John Smith | Head of Customer Escalations'],
    ['not at the end of the message', 'John Smith | Head of Customer Escalations\n\nCould you send it?'],
  ])('yes: %s', (_what, text) => {
    expect(mentionsEscalation(text)).toBe(true);
  });
});

describe('mentionsEscalation on long input', () => {
  it.each([
    ['one link of 200 000 characters', `https://x.example/${'escalation/'.repeat(18_000)}`],
    ['20 000 addresses', 'escalations@x.example '.repeat(9_000)],
    ['200 000 characters of de-escalation', 'de\u2011escalation'.repeat(12_000)],
    ['20 000 lines and a signature', `${'Hello there\n'.repeat(20_000)}\nJohn Smith | Head of Customer Escalations`],
  ])('reads each run once: %s', (_what, text) => {
    const started = performance.now();
    expect(mentionsEscalation(text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('writtenText: only what the writer typed', () => {
  it('drops ">" quotes, stops at a forward marker, drops lines we sent', () => {
    const ours = ourTextMatcher(['We have escalated case 10001 (escalation level 1): experienced members of our team are now looking into it with priority.\nKind regards']);
    const text = [
      'Still broken, thanks.',
      '> please escalate',
      'We have escalated case 10001 (escalation level 1): experienced members',
      'of our team are now looking into it with priority.',
      'Kind regards',
      '---------- Forwarded message ---------',
      'From: boss — please escalate',
    ].join('\n');
    const out = writtenText(text, ours);
    expect(out).toBe('Still broken, thanks.');
    expect(mentionsEscalation(out)).toBe(false);
  });

  it.each([
    ['Gmail, English', '---------- Forwarded message ---------'],
    ['Apple Mail, English', 'Begin forwarded message:'],
    ['Thunderbird, French', '-------- Message transféré --------'],
    ['Thunderbird, Spanish', '-------- Mensaje reenviado --------'],
    ['Thunderbird, Dutch', '-------- Doorgestuurd bericht --------'],
    ['Thunderbird, Italian', '-------- Messaggio inoltrato --------'],
    ['Apple Mail, French', 'Début du message réexpédié :'],
    ['Apple Mail, Italian', 'Inizio messaggio inoltrato:'],
    ['Outlook, English', '-----Original Message-----'],
    ['Outlook, German', '-----Ursprüngliche Nachricht-----'],
    ['Outlook, German without umlaut', '-----Urspruengliche Nachricht-----'],
    ['Outlook, French', "-----Message d'origine-----"],
    ['Outlook, Spanish', '-----Mensaje original-----'],
    ['Outlook, Italian', '-----Messaggio originale-----'],
    ['Outlook, Dutch', '-----Oorspronkelijk bericht-----'],
  ])('stops at a forward or original-message separator: %s', (_client, separator) => {
    const text = ['See below.', '', separator, 'De : Boss <boss@customer.example>', '', 'If they do not answer, escalate it.'].join('\n');
    expect(writtenText(text)).toBe('See below.\n');
    expect(mentionsEscalation(writtenText(text))).toBe(false);
  });

  it('a line that only mentions a forward is no separator', () => {
    const text = 'Did you get my forwarded message?\nPlease escalate.';
    expect(writtenText(text)).toBe(text);
  });

  it('keeps a short line of the customer even when our text contains it as a fragment', () => {
    const ours = ourTextMatcher(['Please escalate this if needed']);
    expect(writtenText('escalate', ours)).toBe('escalate');
  });

  it('with nothing of ours (a new case) keeps every unquoted line above a forward marker, as without a matcher', () => {
    const text = ['Please ESCALATE   this', '', '> quoted', '  Kind regards, Jane  ', 'Begin forwarded message:', 'below'].join('\n');
    const expected = ['Please ESCALATE   this', '', '  Kind regards, Jane  '].join('\n');
    expect(writtenText(text)).toBe(expected);
    expect(writtenText(text, ourTextMatcher([]))).toBe(expected);
    expect(mentionsEscalation(writtenText(text, ourTextMatcher([])))).toBe(true);
  });
});

describe('parseAgentCommands', () => {
  it.each([
    ['#escalate', [{ kind: 'escalate', level: null, reason: '' }]],
    ['#escalate 2', [{ kind: 'escalate', level: 2, reason: '' }]],
    ['  #Escalate 3 customer lost revenue', [{ kind: 'escalate', level: 3, reason: 'customer lost revenue' }]],
    ['#tier 3', [{ kind: 'escalate', level: 3, reason: '' }]],
    ['#assign Erika Musterfrau', [{ kind: 'assign', agent: 'Erika Musterfrau' }]],
    ['#assign me', [{ kind: 'assign', agent: 'me' }]],
    ['#priority high', [{ kind: 'priority', level: 'high' }]],
    ['#tier', [{ kind: 'invalid' }]],
    ['#escalate 5', [{ kind: 'invalid' }]],
    ['#assign', [{ kind: 'invalid' }]],
    ['Hi,\n#escalate 2\nthanks\n#assign me', [{ kind: 'escalate', level: 2 }, { kind: 'assign', agent: 'me' }]],
    ['> #escalate 3', []],
    ['please #escalate 2 this', []],
    // An unknown "#word" at the top is an attempted command: the agent gets the syntax back.
    ['#escalated already', [{ kind: 'invalid' }]],
    // "#note" as mail clients write it is an internal note, never text for the customer.
    ['\u00a0#note', [{ kind: 'note' }]],
    ['\u200b#note', [{ kind: 'note' }]],
    ['\uff03note', [{ kind: 'note' }]],
    ['# note', [{ kind: 'note' }]],
    ['**#note**', [{ kind: 'note' }]],
    [' * #note', [{ kind: 'note' }]],
    ['*#priority high*', [{ kind: 'priority', level: 'high' }]],
    ['#tag my_tag_', [{ kind: 'tag', tag: 'my_tag_' }]],
    // A markdown-style heading is no command; "# verb" counts only at the top.
    ['# Summary', []],
    ['Done.\n#resolved', [{ kind: 'invalid', why: '#resolved is not a command (did you mean #resolve?)' }]],
    ['Done.\n#escalte 2', [{ kind: 'invalid', why: '#escalte is not a command (did you mean #escalate?)' }]],
    ['Done.\n#hashtag', []],
    ['#frobnicate', [{ kind: 'invalid', why: '#frobnicate is not a command' }]],
    ['Hi,\n# Open questions', []],
  ])('%j', (text, expected) => {
    expect(parseAgentCommands(text)).toMatchObject(expected);
  });
});

describe('alertRecipients: every tier passed, else the nearest lower tier, else the admin', () => {
  const tiers = { 1: { addresses: ['l1@x'] }, 3: { addresses: ['l3@x'] } };
  const ctx = (queues: Record<string, unknown>, adminAddress?: string) =>
    ({ config: { queues, instance: { name: 'x', domain: 'x', ...(adminAddress !== undefined ? { adminAddress } : {}) } } }) as unknown as Parameters<typeof alertRecipients>[0];
  it.each<[number, number, string[]]>([
    [0, 1, ['l1@x']],
    [1, 2, ['l1@x']],
    [2, 3, ['l3@x']],
    [0, 3, ['l1@x', 'l3@x']],
  ])('%i → %i', (from, to, expected) => {
    expect(alertRecipients(ctx({ q: { tiers, agents: [] } }, 'ops@x'), 'q', from, to)).toEqual(expected);
  });
  it('a queue without tiers alerts the admin; without an admin nobody', () => {
    expect(alertRecipients(ctx({ q: { tiers: {}, agents: [] } }, 'ops@x'), 'q', 0, 2)).toEqual(['ops@x']);
    expect(alertRecipients(ctx({}, undefined), 'unknown', 0, 1)).toEqual([]);
  });
  it('agents with a tier and leads (tier 1 by default) are alerted with the tier addresses', () => {
    const agents = [
      { name: 'Lea Lead', address: 'lea@x', available: true, role: 'lead' },
      { name: 'Sam Second', address: 'sam@x', available: true, role: 'agent', tier: 2 },
      { name: 'Al Agent', address: 'al@x', available: true, role: 'agent' },
    ];
    const c = ctx({ q: { tiers, agents } }, 'ops@x');
    expect(alertRecipients(c, 'q', 0, 1)).toEqual(['l1@x', 'lea@x']);
    expect(alertRecipients(c, 'q', 1, 2)).toEqual(['sam@x']);
    expect(alertRecipients(c, 'q', 0, 3)).toEqual(['l1@x', 'lea@x', 'sam@x', 'l3@x']);
  });
});

describe('withoutRepeatedFooter', () => {
  const footer = 'Jane Doe\nACME IT Services | 24/7 Escalation Hotline';
  it.each([
    ['a footer the earlier mail ended with too', `Any news?\n\n${footer}`, [`The printer burns.\n\n${footer}`], 'Any news?\n'],
    ['quoted and spaced differently', `Any news?\n${footer.toUpperCase()}`, [`The printer burns.\n>  ${footer}`], 'Any news?'],
    ['no earlier mail', `Any news?\n\n${footer}`, [], `Any news?\n\n${footer}`],
    ['one common line is no footer', 'Any news?\nPlease escalate.', ['Hello\nPlease escalate.'], 'Any news?\nPlease escalate.'],
    ['a request repeated with the name', 'Any news?\nPlease escalate.\nJane Doe', ['Hello\nPlease escalate.\nJane Doe'], 'Any news?\nPlease escalate.\nJane Doe'],
    ['a request above the footer stays', `Any news?\nPlease escalate.\n${footer}`, [`Hello\nPlease escalate.\n${footer}`], 'Any news?\nPlease escalate.'],
    ['nothing above it: the whole mail is no footer', footer, [footer], footer],
  ])('%s', (_what, text, earlier, expected) => {
    expect(withoutRepeatedFooter(text, earlier)).toBe(expected);
  });
});
