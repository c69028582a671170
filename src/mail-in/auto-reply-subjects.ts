/**
 * Subjects machines write: the prefixes out-of-office responders and read receipts put in front
 * of the original subject, in the languages their products ship (Exchange/Outlook, Gmail, Apple,
 * Lotus Notes/Domino, Zimbra, Thunderbird and webmail responders), and the wording of
 * challenge-response "please confirm you are human" mail. Data and matchers only.
 */

/** Out-of-office / automatic-reply prefixes; a colon must follow ("Automatic reply: <subject>"). */
const AUTO_REPLY_PREFIXES = [
  // en
  'automatic reply',
  'auto(?:matic)?[- ]?reply',
  'auto[- ]?response',
  'autorespons',
  'out of (?:the )?office(?: auto ?reply| reply)?',
  // de
  'abwesenheitsnotiz',
  'automatische abwesenheitsnotiz',
  'automatische antwort',
  'autom\\. antwort',
  'au(?:ss|ß)er haus',
  'nicht im b[üu]ro',
  // fr
  'r[ée]ponse automatique(?: d\'absence du bureau)?',
  'absence du bureau',
  'absent(?:e)? du bureau',
  'message d\'absence',
  // es
  'respuesta autom[áa]tica(?: de fuera de la oficina)?',
  'fuera de la oficina',
  'fuera de oficina',
  // it
  'risposta automatica',
  'fuori sede',
  'fuori ufficio',
  // pt
  'resposta autom[áa]tica(?: de aus[êe]ncia)?',
  'aus[êe]ncia tempor[áa]ria',
  'fora do escrit[óo]rio',
  // nl
  'automatisch antwoord',
  'automatisch bericht',
  'niet aanwezig',
  'afwezigheidsbericht',
  // sv, da, no, fi
  'automatiskt svar',
  'automatisk svar',
  'autosvar',
  'fr[åa]nvaromeddelande',
  'frav[æa]rsmeddelelse',
  'frav[æa]rsmelding',
  'ikke p[åa] kontoret',
  'automaattinen vastaus',
  'poissaoloviesti',
  // pl, cs, sk, hu, ro, sl, hr, lt, lv, et, tr
  'automatyczna odpowied[źz]',
  'odpowied[źz] automatyczna',
  'poza biurem',
  'automatick[áa] odpov[ěe][ďd]',
  'automatick[áa] odpove[ďd]',
  'mimo kancel[áa]ř',
  'automatikus v[áa]lasz',
  'h[áa]zon k[íi]v[üu]l',
  'r[ăa]spuns automat',
  'samodejni odgovor',
  'automatski odgovor',
  'automatinis atsakymas',
  'autom[āa]tisk[āa] atbilde',
  'automaatne vastus',
  'otomatik (?:yan[ıi]t|cevap)',
  'ofis d[ıi][şs][ıi]nda',
  // el, ru, uk, bg
  'αυτόματη απάντηση',
  'εκτός γραφείου',
  'автоматический ответ',
  'автоответ',
  'автоматична відповідь',
  'автоматичен отговор',
  // he, ar, ja, zh, ko, th, vi, id/ms
  'תשובה אוטומטית',
  'رد تلقائي',
  '自動応答',
  '自動返信',
  '自动回复',
  '自動回覆',
  '自动答复',
  '자동 회신',
  '자동 응답',
  'ตอบกลับอัตโนมัติ',
  'tr[ảa] l[ờo]i t[ựu] [đd][ộo]ng',
  'balasan (?:otomatis|automatik)',
];

export const AUTO_REPLY_SUBJECT = new RegExp(`^\\s*(?:${AUTO_REPLY_PREFIXES.join('|')})\\s*[:：]`, 'iu');

/** Looser vacation subjects: only with another weak signal. */
export const VACATION_SUBJECT =
  /^\s*(?:out of (?:the )?office|vacation|on vacation|away(?: from)?|abwesend|absence|absent|cong[ée]s?|ausser haus|außer haus|auto-?reply|automatic reply)\b/i;

/**
 * Lotus Notes / Domino's out-of-office agent: "AUTO: Jane Doe is out of the office (returning
 * 03/10/2026)" and its translations. "AUTO:" alone is not enough ("Auto: Schaden melden" is
 * German for car), the phrase that follows is.
 */
export const LOTUS_AUTO_SUBJECT = new RegExp(
  '^\\s*auto\\s*:.{0,120}?(?:' +
    [
      'out of (?:the )?office',
      '\\(returning ',
      'ist au(?:ss|ß)er haus',
      'ist nicht im b[üu]ro',
      '\\(r[üu]ckkehr',
      'n\'est pas au bureau',
      'est absent',
      '\\(retour ',
      'no est[áa] en la oficina',
      'est[áa] fuera de la oficina',
      'non [èe] in ufficio',
      '[èe] fuori (?:sede|ufficio)',
      'est[áa] fora do escrit[óo]rio',
      'is afwezig',
      'niet op kantoor',
      '[äa]r inte p[åa] kontoret',
      'er ikke p[åa] kontoret',
      'jest poza biurem',
    ].join('|') +
    ')',
  'i',
);

/** Read-receipt prefixes (Outlook/Exchange and Notes localise them). Needs a second sign. */
export const READ_RECEIPT_SUBJECT = new RegExp(
  '^\\s*(?:' +
    [
      'read',
      'not read',
      'read receipt',
      'return receipt',
      'gelesen',
      'ungelesen',
      'nicht gelesen',
      'lu',
      'non lu',
      'le[íi]do',
      'no le[íi]do',
      'letto',
      'non letto',
      'lid[ao]',
      'n[ãa]o lid[ao]',
      'gelezen',
      'niet gelezen',
      'l[äa]st',
      'ol[äa]st',
      'l[æa]st',
      'ikke l[æa]st',
      'lest',
      'ikke lest',
      'luettu',
      'lukematon',
      'przeczytan[ao]',
      'nieprzeczytana',
      'p[řr]e[čc]teno',
      'nep[řr]e[čc]teno',
      'elolvasva',
      'olvasott',
      'прочитано',
      'не прочитано',
      '開封済み',
      '未開封',
      '已读',
      '已讀',
      '未读',
      '읽음',
    ].join('|') +
    ')\\s*[:：]',
  'iu',
);

/** What a read receipt says in its body ("Your message … was read on …"). */
export const READ_RECEIPT_TEXT = new RegExp(
  [
    'your message[\\s\\S]{0,600}?\\bwas read on\\b',
    'was deleted without being read',
    'ihre nachricht[\\s\\S]{0,600}?\\bwurde am .{0,80}gelesen',
    'votre message[\\s\\S]{0,600}?\\ba été lu\\b',
    'su mensaje[\\s\\S]{0,600}?\\bse ha leído\\b',
    'il messaggio[\\s\\S]{0,600}?\\bè stato letto\\b',
    'sua mensagem[\\s\\S]{0,600}?\\bfoi lida\\b',
    'uw bericht[\\s\\S]{0,600}?\\bis gelezen\\b',
    '^[ \\t]*original-message-id[ \\t]*:[\\s\\S]{0,400}^[ \\t]*disposition[ \\t]*:',
  ].join('|'),
  'im',
);

/** Subjects of challenge-response spam filters ("Please confirm your message"). Needs a body sign. */
export const CHALLENGE_SUBJECT =
  /(?:please )?(?:confirm|verify) (?:your |the )?(?:e-?mail|message|address|identity|request to send)|verification (?:required|needed|request)|(?:awaiting|pending|requires?) (?:your )?(?:verification|confirmation)|approval required|sender verification|are you (?:a )?human|spam (?:check|protection|verification|filter)|auto(?:matic)?[- ]?verification|bestätigen sie ihre (?:e-?mail|nachricht)|confirmez votre (?:message|e-?mail)/i;

/** Body wording of a challenge: the sender must prove they are a person before delivery. */
export const CHALLENGE_TEXT = new RegExp(
  [
    '\\b(?:i|we) (?:use|am using|are using|have installed)\\b.{0,80}\\b(?:spam|junk)',
    'protect(?:s|ing)? (?:me|my (?:inbox|mailbox|e-?mail(?: address)?)|myself|us|our (?:inbox|mailbox)) (?:from|against) (?:spam|junk|unsolicited)',
    'challenge[- ]response',
    '(?:approved|allowed|trusted|verified) senders? list',
    'added to (?:my|the|our) (?:list of )?(?:approved|allowed|trusted|verified) senders',
    'your (?:message|e-?mail) (?:is|has been|was|will be) (?:held|quarantined|put on hold|kept|delivered only)\\b.{0,120}\\b(?:until|unless|once|after) you',
    '(?:one[- ]time|one time) (?:verification|confirmation)\\b.{0,80}\\bsender',
    'prove (?:that )?you are (?:a )?(?:human|real person|not a (?:robot|spammer))',
  ].join('|'),
  'is',
);
