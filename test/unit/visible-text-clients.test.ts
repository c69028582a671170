/**
 * Replies as real clients write them, in the languages our customers use. Each case is written
 * after the client's own format (Outlook desktop/OWA header blocks, Gmail/Apple/Thunderbird/Yahoo
 * attribution lines, GMX/web.de, Samsung, Spark, Zimbra, Lotus Notes, phone signatures), with the
 * customer's text above (or below) the history. The expectation is the customer's text only.
 */
import { describe, expect, it } from 'vitest';
import { extractVisibleText } from '../../src/mail-in/visible-text.js';
import { isForwardSubject } from '../../src/mail-in/visible-text/vocabulary.js';

const MARKER = '##- Please type your reply above this line -##';
const QUOTE = `> ${MARKER}\n>\n> Your case #10042 was updated.\n> Please check the attached invoice.\n`;
const OURS = `${MARKER}\n\nYour case #10042 was updated.\nPlease check the attached invoice.\n`;

interface ClientCase {
  readonly name: string;
  readonly reply: string;
  /** The history below the reply (attribution/header + quote). */
  readonly history: string;
}

const ANSWER: Readonly<Record<string, string>> = {
  en: 'The invoice is correct now, thank you.',
  de: 'Die Rechnung stimmt jetzt, vielen Dank.',
  fr: 'La facture est correcte maintenant, merci.',
  es: 'La factura ya es correcta, gracias.',
  it: 'La fattura ora è corretta, grazie.',
  nl: 'De factuur klopt nu, dank u.',
  pt: 'A fatura está correta agora, obrigado.',
  pl: 'Faktura jest teraz poprawna, dziękuję.',
  sv: 'Fakturan stämmer nu, tack.',
  da: 'Fakturaen er korrekt nu, tak.',
  no: 'Fakturaen er riktig nå, takk.',
  fi: 'Lasku on nyt oikein, kiitos.',
  cs: 'Faktura je nyní v pořádku, děkuji.',
  ru: 'Теперь счёт верный, спасибо.',
  uk: 'Тепер рахунок правильний, дякую.',
  ja: '請求書は正しくなりました。ありがとうございます。',
  zh: '发票现在正确了，谢谢。',
  ko: '이제 청구서가 맞습니다. 감사합니다.',
  tr: 'Fatura artık doğru, teşekkürler.',
  hu: 'A számla most már helyes, köszönöm.',
  el: 'Το τιμολόγιο είναι πλέον σωστό, ευχαριστώ.',
  ro: 'Factura este corectă acum, mulțumesc.',
  ar: 'الفاتورة صحيحة الآن، شكرا لكم.',
  he: 'החשבונית תקינה עכשיו, תודה.',
  fa: 'فاکتور الان درست است، ممنون.',
  th: 'ใบแจ้งหนี้ถูกต้องแล้ว ขอบคุณครับ',
  hi: 'चालान अब सही है, धन्यवाद।',
  id: 'Tagihannya sudah benar sekarang, terima kasih.',
  vi: 'Hóa đơn bây giờ đã đúng, cảm ơn.',
};

const outlook = (lang: string, labels: readonly [string, string, string, string], date: string, separator = '________________________________'): ClientCase => ({
  name: `Outlook desktop (${lang})`,
  reply: ANSWER[lang] ?? '',
  history: `${separator}\n${labels[0]} Example Support <support@example.com>\n${labels[1]} ${date}\n${labels[2]} Customer <customer@example.net>\n${labels[3]} RE: [Case #10042] Invoice\n\n${OURS}`,
});

const gmail = (lang: string, attribution: string): ClientCase => ({
  name: `Gmail (${lang}): ${attribution.slice(0, 40)}…`,
  reply: ANSWER[lang] ?? '',
  history: `${attribution}\n\n${QUOTE}`,
});

const cases: readonly ClientCase[] = [
  outlook('en', ['From:', 'Sent:', 'To:', 'Subject:'], 'Monday, January 8, 2024 10:02 AM'),
  outlook('de', ['Von:', 'Gesendet:', 'An:', 'Betreff:'], 'Montag, 8. Januar 2024 10:02'),
  outlook('fr', ['De :', 'Envoyé :', 'À :', 'Objet :'], 'lundi 8 janvier 2024 10:02'),
  outlook('es', ['De:', 'Enviado el:', 'Para:', 'Asunto:'], 'lunes, 8 de enero de 2024 10:02'),
  outlook('it', ['Da:', 'Inviato:', 'A:', 'Oggetto:'], 'lunedì 8 gennaio 2024 10:02'),
  outlook('nl', ['Van:', 'Verzonden:', 'Aan:', 'Onderwerp:'], 'maandag 8 januari 2024 10:02'),
  outlook('pt', ['De:', 'Enviado:', 'Para:', 'Assunto:'], 'segunda-feira, 8 de janeiro de 2024 10:02'),
  outlook('pl', ['Od:', 'Wysłano:', 'Do:', 'Temat:'], 'poniedziałek, 8 stycznia 2024 10:02'),
  outlook('sv', ['Från:', 'Skickat:', 'Till:', 'Ämne:'], 'den 8 januari 2024 10:02'),
  outlook('da', ['Fra:', 'Sendt:', 'Til:', 'Emne:'], '8. januar 2024 10:02'),
  outlook('no', ['Fra:', 'Sendt:', 'Til:', 'Emne:'], 'mandag 8. januar 2024 10:02'),
  outlook('fi', ['Lähettäjä:', 'Lähetetty:', 'Vastaanottaja:', 'Aihe:'], 'maanantai 8. tammikuuta 2024 10.02'),
  outlook('cs', ['Od:', 'Odesláno:', 'Komu:', 'Předmět:'], 'pondělí 8. ledna 2024 10:02'),
  outlook('ru', ['От:', 'Отправлено:', 'Кому:', 'Тема:'], '8 января 2024 г. 10:02'),
  outlook('ja', ['差出人:', '送信日時:', '宛先:', '件名:'], '2024年1月8日 10:02'),
  outlook('zh', ['发件人:', '发送时间:', '收件人:', '主题:'], '2024年1月8日 10:02'),
  outlook('ko', ['보낸 사람:', '보낸 날짜:', '받는 사람:', '제목:'], '2024년 1월 8일 월요일 오전 10:02'),
  outlook('tr', ['Kimden:', 'Gönderildi:', 'Kime:', 'Konu:'], '8 Ocak 2024 Pazartesi 10:02'),
  outlook('hu', ['Feladó:', 'Elküldve:', 'Címzett:', 'Tárgy:'], '2024. január 8. 10:02'),
  outlook('ar', ['من:', 'تاريخ الإرسال:', 'إلى:', 'الموضوع:'], 'الاثنين، 8 يناير 2024 10:02 ص'),
  outlook('he', ['מאת:', 'נשלח:', 'אל:', 'נושא:'], 'יום שני 08 ינואר 2024 10:02'),
  outlook('fa', ['از:', 'ارسال شده:', 'به:', 'موضوع:'], 'دوشنبه، 8 ژانویه 2024 10:02'),
  outlook('th', ['จาก:', 'ส่ง:', 'ถึง:', 'เรื่อง:'], '8 มกราคม 2567 10:02'),
  outlook('hi', ['प्रेषक:', 'भेजा गया:', 'प्रति:', 'विषय:'], 'सोमवार, 8 जनवरी 2024 10:02'),
  { ...outlook('en', ['*From:*', '*Sent:*', '*To:*', '*Subject:*'], 'Monday, January 8, 2024 10:02 AM', ''), name: 'Outlook as plain text by another client ("*From:*" bold labels)' },
  { ...outlook('fr', ['De :', 'Date :', 'À :', 'Objet :'], 'lundi 8 janvier 2024 à 10:02', ''), name: 'Outlook for Mac (fr), no separator line' },
  { ...outlook('en', ['From:', 'Date:', 'To:', 'Subject:'], 'Mon, 8 Jan 2024 10:02', '-----'), name: '"-----" rule followed by a From/Date/To/Subject block' },
  gmail('en', 'On Mon, Jan 8, 2024 at 10:02 AM Example Support <support@example.com> wrote:'),
  gmail('de', 'Am Mo., 8. Jan. 2024 um 10:02 Uhr schrieb Example Support <support@example.com>:'),
  gmail('fr', 'Le lun. 8 janv. 2024 à 10:02, Example Support <support@example.com> a écrit :'),
  gmail('es', 'El lun, 8 ene 2024 a las 10:02, Example Support (<support@example.com>) escribió:'),
  gmail('it', 'Il giorno lun 8 gen 2024 alle ore 10:02 Example Support <support@example.com> ha scritto:'),
  gmail('nl', 'Op ma 8 jan 2024 om 10:02 schreef Example Support <support@example.com>:'),
  gmail('pt', 'Em seg., 8 de jan. de 2024 às 10:02, Example Support <support@example.com> escreveu:'),
  gmail('pl', 'pon., 8 sty 2024 o 10:02 Example Support <support@example.com> napisał(a):'),
  gmail('ru', 'пн, 8 янв. 2024 г. в 10:02, Example Support <support@example.com>:'),
  gmail('uk', 'пн, 8 січ. 2024 р. о 10:02 Example Support <support@example.com> пише:'),
  gmail('sv', 'Den mån 8 jan. 2024 kl 10:02 skrev Example Support <support@example.com>:'),
  gmail('da', 'Den man. 8. jan. 2024 kl. 10.02 skrev Example Support <support@example.com>:'),
  gmail('no', 'man. 8. jan. 2024 kl. 10:02 skrev Example Support <support@example.com>:'),
  gmail('fi', 'ma 8.1.2024 klo 10.02 Example Support (support@example.com) kirjoitti:'),
  gmail('cs', 'po 8. 1. 2024 v 10:02 odesílatel Example Support <support@example.com> napsal:'),
  gmail('tr', 'Example Support <support@example.com>, 8 Oca 2024 Pzt, 10:02 tarihinde şunu yazdı:'),
  gmail('ja', '2024年1月8日(月) 10:02 Example Support <support@example.com>:'),
  gmail('zh', 'Example Support <support@example.com> 于2024年1月8日周一 10:02写道：'),
  gmail('ko', '2024년 1월 8일 (월) 오전 10:02, Example Support <support@example.com>님이 작성:'),
  gmail('hu', 'Example Support <support@example.com> ezt írta (időpont: 2024. jan. 8., H, 10:02):'),
  gmail('el', 'Στις Δευ 8 Ιαν 2024 στις 10:02, ο/η Example Support <support@example.com> έγραψε:'),
  gmail('ro', 'Pe lun., 8 ian. 2024 la 10:02, Example Support <support@example.com> a scris:'),
  gmail('ar', 'في الاثنين، ٨ يناير ٢٠٢٤ في ١٠:٠٢ ص كتب Example Support <support@example.com>:'),
  gmail('he', 'בתאריך יום ב׳, 8 בינו׳ 2024 ב-10:02 מאת Example Support <support@example.com>:'),
  gmail('fa', 'در تاریخ دوشنبه ۸ ژانویه ۲۰۲۴، ساعت ۱۰:۰۲ Example Support <support@example.com> نوشت:'),
  gmail('th', 'เมื่อ จ. 8 ม.ค. 2024 เวลา 10:02 Example Support <support@example.com> เขียนว่า:'),
  gmail('hi', 'सोम, 8 जन॰ 2024 को 10:02 am बजे Example Support <support@example.com> ने लिखा:'),
  gmail('id', 'Pada tanggal Sen, 8 Jan 2024 pukul 10.02 Example Support <support@example.com> menulis:'),
  gmail('vi', 'Vào Th 2, 8 thg 1, 2024 vào lúc 10:02 Example Support <support@example.com> đã viết:'),
  { ...gmail('en', 'On Mon, Jan 8, 2024 at 10:02 AM Example Support <\nsupport@example.com> wrote:'), name: 'Gmail (en) wrapped inside the address' },
  { ...gmail('en', '2014/1/8 Example Support <support@example.com>'), name: 'old Gmail date form without colon ("2014/1/8 sam <…>")' },
  { ...gmail('de', 'Am 08.01.2024 um 10:02 schrieb Example Support <support@example.com>:'), name: 'Apple Mail (de)' },
  { ...gmail('fr', 'Le 8 janv. 2024 à 10:02, Example Support <support@example.com> a écrit :'), name: 'iPhone Mail (fr)' },
  { ...gmail('de', 'Am 08.01.24 um 10:02 schrieb Example Support:'), name: 'Thunderbird (de), no address' },
  { ...gmail('en', 'On 1/8/24 10:02 AM, Example Support wrote:'), name: 'Thunderbird (en), no address' },
  { ...gmail('en', 'On Monday, January 8, 2024, 10:02:13 AM GMT+1, Example Support <support@example.com> wrote:'), name: 'Yahoo Mail (en)' },
  { ...gmail('de', 'Am Montag, 8. Januar 2024, 10:02:13 MEZ hat Example Support <support@example.com> Folgendes geschrieben:'), name: 'Yahoo Mail (de)' },
  { ...gmail('en', 'On 8 Jan 2024 at 10:02 +0100, Example Support <support@example.com>, wrote:'), name: 'Spark' },
  { ...gmail('de', 'Example Support <support@example.com> schrieb am 08.01.2024 10:02:'), name: 'Lotus Notes / HCL Verse (de)' },
  {
    name: 'GMX / web.de (Gesendet first, no blank line)',
    reply: ANSWER['de'] ?? '',
    history: `Gesendet: Montag, 08. Januar 2024 um 10:02 Uhr\nVon: "Example Support" <support@example.com>\nAn: kunde@gmx.example\nBetreff: Re: [Case #10042] Rechnung\n${OURS}`,
  },
  {
    name: 'Samsung Email (en)',
    reply: ANSWER['en'] ?? '',
    history: `-------- Original message --------\nFrom: Example Support <support@example.com>\nDate: 08/01/2024 10:02 (GMT+01:00)\nTo: customer@example.net\nSubject: [Case #10042] Invoice\n\n${OURS}`,
  },
  {
    name: 'Samsung Email (de)',
    reply: ANSWER['de'] ?? '',
    history: `-------- Ursprüngliche Nachricht --------\nVon: Example Support <support@example.com>\nDatum: 08.01.24 10:02 (GMT+01:00)\nAn: kunde@example.net\nBetreff: [Case #10042] Rechnung\n\n${OURS}`,
  },
  {
    name: 'Zimbra (fr) "----- Mail original -----"',
    reply: ANSWER['fr'] ?? '',
    history: `----- Mail original -----\nDe: "Example Support" <support@example.com>\nÀ: client@example.fr\nEnvoyé: Lundi 8 Janvier 2024 10:02:00\nObjet: [Case #10042] Facture\n\n${OURS}`,
  },
  {
    name: 'Outlook for iOS: phone line above the header block',
    reply: ANSWER['en'] ?? '',
    history: `Get Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Example Support <support@example.com>\nSent: Monday, January 8, 2024 10:02:11 AM\nTo: Customer <customer@example.net>\nSubject: RE: [Case #10042] Invoice\n\n${OURS}`,
  },
  {
    name: 'Android "---- X wrote ----"',
    reply: ANSWER['en'] ?? '',
    history: `---- Example Support wrote ----\n\n${QUOTE}`,
  },
  {
    name: '"|"-quoted history below an attribution',
    reply: ANSWER['en'] ?? '',
    history: 'On Mon, 8 Jan 2024 10:02:11 +0100, Example Support <support@example.com> wrote:\n| Your case #10042 was updated.\n| Please check the attached invoice.\n',
  },
  {
    name: 'Polymail (attribution spread over lines)',
    reply: ANSWER['en'] ?? '',
    history: 'On Mon, Jan 8, 2024 at 10:02 AM Example Support\n\n<\nmailto:Example Support <support@example.com>\n> wrote:\nYour case #10042 was updated.\n',
  },
];

describe('extractVisibleText: replies from real clients in many languages', () => {
  it.each(cases)('$name', ({ reply, history }) => {
    const result = extractVisibleText(`${reply}\n\n${history}`, null, { replyMarker: MARKER });
    expect(result.text).toBe(reply);
    expect(result.hadQuote).toBe(true);
  });

  it.each(cases.filter((c) => c.history.includes(QUOTE)))('bottom-posted under the quote: $name', ({ reply, history }) => {
    const result = extractVisibleText(`${history}\n${reply}\n`, null, { replyMarker: MARKER });
    expect(result.text).toBe(reply);
  });
});

describe('extractVisibleText: things that look like history but are the customer\'s words', () => {
  it.each([
    ['a travel request with From/To/Date lines', 'Please change my booking:\nFrom: Berlin\nTo: Munich\nDate: 3 May, 10:30\n\nThank you!'],
    ['an address change with From/To lines', 'Please move my account:\nFrom: old.address@example.net\nTo: new.address@example.org\n\nThe old mailbox closes on Friday.'],
    ['a message described by its From and Subject', 'My message:\n   From: jane@example.net\n   Subject: Invoice 4711\n\ncould not be delivered to your billing address.'],
    ['a description of a message that did not arrive', 'My message\n\n  To: billing@example.org\n  Subject: Invoice 4711\n  Sent: Mon, 8 Jan 2024 10:02\n\nnever reached your billing team.'],
    ['a markdown table', 'Results:\n| run | time |\n| 1 | 10:02 |\n| 2 | 10:05 |\n\nThe second run is slow.'],
    ['"wrote:" in a sentence', 'Your colleague wrote: the update fixes it. It did not.\n\nRegards from Kai'],
    ['an intro line without date or address', 'As I wrote:\nthe printer is broken since Monday.'],
    ['"On …" sentence with a time', 'On Monday at 10:02 the server stopped.\nIt restarted at 10:30.'],
    ['a quoted shell prompt is not a quote marker for "|"', 'Output:\n| ERROR 42\n| retrying\nThat is all.'],
    ['a header-like line inside the text', 'Subject: my invoice\nThe amount is wrong.'],
  ])('%s is kept whole', (_name, input) => {
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    expect(result.text).toBe(input);
    expect(result.hadQuote).toBe(false);
  });
});

describe('extractVisibleText: Arabic, Hebrew, Persian, Thai and Hindi history that is not ours (no marker to cut at)', () => {
  const OTHER = 'Dear customer,\nyour order 4711 has shipped.\n';
  it.each([
    ['Outlook (ar)', 'من: Shop <shop@example.org>\nتاريخ الإرسال: الاثنين، 8 يناير 2024 10:02 ص\nإلى: me@example.net\nالموضوع: طلبك'],
    ['Outlook (fa)', 'از: Shop <shop@example.org>\nارسال شده: دوشنبه، 8 ژانویه 2024 10:02\nبه: me@example.net\nموضوع: سفارش'],
    ['Outlook (th)', 'จาก: Shop <shop@example.org>\nส่ง: 8 มกราคม 2567 10:02\nถึง: me@example.net\nเรื่อง: คำสั่งซื้อ'],
    ['Outlook (hi)', 'प्रेषक: Shop <shop@example.org>\nभेजा गया: सोमवार, 8 जनवरी 2024 10:02\nप्रति: me@example.net\nविषय: आदेश'],
    ['Gmail (ar), Arabic-Indic digits, history not quoted', 'في الاثنين، ٨ يناير ٢٠٢٤ في ١٠:٠٢ ص كتب Shop <shop@example.org>:'],
    ['Gmail (he), history not quoted', 'בתאריך יום ב׳, 8 בינו׳ 2024 ב-10:02 מאת Shop <shop@example.org>:'],
  ])('%s', (_name, head) => {
    expect(extractVisibleText(`${ANSWER['en']}\n\n${head}\n\n${OTHER}`, null).text).toBe(ANSWER['en']);
  });
});

describe('extractVisibleText: an Outlook forward with a note, forward prefix in the sender’s language', () => {
  const FORWARDED = 'Dear customer,\nyour invoice 4711 is attached.\n';
  it.each([
    ['el', 'ΠΡΘ: Τιμολόγιο 4711', 'Από: Shop <shop@example.org>\nΣτάλθηκε: Δευτέρα, 8 Ιανουαρίου 2024 10:02 πμ\nΠρος: me@example.net\nΘέμα: Τιμολόγιο 4711'],
    ['he', 'העבר: חשבונית 4711', 'מאת: Shop <shop@example.org>\nנשלח: יום שני 08 ינואר 2024 10:02\nאל: me@example.net\nנושא: חשבונית 4711'],
    ['ar', 'إعادة توجيه: فاتورة 4711', 'من: Shop <shop@example.org>\nتاريخ الإرسال: الاثنين، 8 يناير 2024 10:02 ص\nإلى: me@example.net\nالموضوع: فاتورة 4711'],
    ['ko', '전달: 청구서 4711', '보낸 사람: Shop <shop@example.org>\n보낸 날짜: 2024년 1월 8일 월요일 오전 10:02\n받는 사람: me@example.net\n제목: 청구서 4711'],
    ['tr', 'İLT: Fatura 4711', 'Kimden: Shop <shop@example.org>\nGönderildi: 8 Ocak 2024 Pazartesi 10:02\nKime: me@example.net\nKonu: Fatura 4711'],
  ])('%s: the forwarded message stays below the note', (_lang, subject, header) => {
    expect(isForwardSubject(subject)).toBe(true);
    const text = extractVisibleText(`Please check this invoice.\n\n________________________________\n${header}\n\n${FORWARDED}`, null, { forward: isForwardSubject(subject) }).text;
    expect(text).toContain('Please check this invoice.');
    expect(text).toContain('your invoice 4711 is attached.');
  });
});

describe('extractVisibleText: Outlook\'s "-----Original Message-----" line in Chinese, Korean, Arabic and Hebrew', () => {
  it.each(['-----原始邮件-----', '-----原始郵件-----', '-----원본 메시지-----', '-----الرسالة الأصلية-----', '-----הודעה מקורית-----'])('%s: it and all below are history', (line) => {
    expect(extractVisibleText(`Thanks, it works.\n\n${line}\nFrom: Shop <shop@example.org>\nSent: Monday, January 8, 2024 10:02 AM\n\nDear customer,\nyour order shipped.\n`, null).text).toBe('Thanks, it works.');
    expect(extractVisibleText(`Thanks, it works.\n\n${line}\nDear customer,\nyour order shipped.\n`, null).text).toBe('Thanks, it works.');
  });
});

describe('extractVisibleText: phone and app lines in more languages', () => {
  it.each(['從我的 iPhone 傳送', 'أرسلت من الـ iPhone الخاص بي', 'נשלח מה-iPhone שלי', 'ส่งจาก iPhone ของฉัน', 'Gửi từ iPhone của tôi', 'Samsung Galaxy スマートフォンから送信されました', 'Outlook for Android の入手', '获取 Outlook for iOS'])('%s', (line) => {
    expect(extractVisibleText(`The invoice is fine now.\n\n${line}\n`, null).text).toBe('The invoice is fine now.');
  });
  it.each(['見積書を入手しました。', 'נשלח מהמשרד שלנו אתמול.', 'أرسلت من حسابي الآخر أمس.'])('an everyday sentence stays: %s', (line) => {
    expect(extractVisibleText(`The invoice is fine now.\n\n${line}\n`, null).text).toBe(`The invoice is fine now.\n\n${line}`);
  });
});
