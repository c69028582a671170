import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { suspectedAutoReply } from '../../src/mail-in/auto-reply-wording.js';

const s = (subject: string, text: string) => suspectedAutoReply({ subject, text });

describe('out-of-office replies nobody marked: their words', () => {
  it('recognises them in English, German, French, Spanish, Italian, Dutch and Portuguese', () => {
    const ooo: [string, string][] = [
      ['Re: [Case #10001] New case: VPN broken', 'Thank you for your message. I am out of the office until Monday 14 December with limited access to email.'],
      ['Re: [Case #10001] New case: VPN broken', "I'm on vacation until Jan 3rd. For urgent matters please contact anna@example.com."],
      ['Out of Office', 'I am currently away and will reply when I am back.'],
      ['I am on vacation', 'I will be travelling and will respond upon my return.'],
      ['Re: [Case #10001] Customer replied: VPN broken', 'This is an automatic reply. Your message has been received.'],
      ['Abwesenheitsnotiz', 'Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 3. Januar nicht im Büro. In dringenden Fällen wenden Sie sich an anna@example.com.'],
      ['AW: [Case #10001] Neuer Vorgang: Drucker', 'Guten Tag, ich bin vom 20.12. bis 6.1. im Urlaub. Ihre E-Mail wird nicht weitergeleitet.'],
      ['Re: [Case #10001] New case', 'Je suis absent du bureau jusqu’au 5 mai. En cas d’urgence, contactez Anna.'],
      ['Réponse : [Case #10001]', 'Bonjour, je serai en congé jusqu\'au 2 janvier.'],
      ['Re: [Case #10001]', 'Estoy fuera de la oficina hasta el 7 de enero.'],
      ['R: [Case #10001]', 'Sono fuori ufficio fino al 10 gennaio. Per urgenze contattare Anna.'],
      ['Re: [Case #10001]', 'Ik ben tot en met 5 januari afwezig.'],
      ['Re: [Case #10001]', 'Estou de férias até dia 8. Em caso de urgência fale com a Anna.'],
    ];
    for (const [subject, text] of ooo) expect(s(subject, text), `${subject} / ${text}`).not.toBeNull();
  });

  it('the corpus’s vacation replies, read without their headers', () => {
    for (const f of ['rfc3834-01', 'rfc3834-02', 'rfc3834-04']) {
      const raw = readFileSync(`test/corpus/vendor/sisimai-set-of-emails/maildir/bsd/${f}.eml`, 'latin1').replace(/=\r?\n/g, '');
      const subject = /^Subject: (.*)$/m.exec(raw)![1]!;
      const body = raw.slice(raw.search(/\r?\n\r?\n/)).trim();
      expect(s(subject.replace(/^Automatic reply:\s*/i, ''), body), f).not.toBeNull();
    }
  });

  it('leaves a person’s words alone: a past absence, one mentioned in passing, a customer’s vacation booking', () => {
    const human: [string, string][] = [
      ['Re: [Case #10001] New case: VPN broken', 'I was out of office yesterday, sorry — here is the fix: renew the certificate under Settings > VPN.'],
      ['Re: [Case #10001] New case: VPN broken', "I'm out of office tomorrow, so here is the fix now: restart the client."],
      ['Re: [Case #10001]', 'Hi Jane,\n\nplease renew the certificate. If it still fails, I am here until 18:00 today.\n\nBen'],
      ['Re: [Case #10001]', 'Sorry for the delay, I was on vacation until Monday. The fix: renew the certificate.'],
      ['Vacation booking failed', 'I tried to book my vacation until 3 January but the page fails.'],
      ['Re: [Case #10001]', 'Ich war letzte Woche im Urlaub, deshalb erst jetzt: bitte das Zertifikat erneuern.'],
      ['Re: [Case #10001]', 'Hallo Jane, bitte starten Sie den Client neu. Ich bin bis 18 Uhr erreichbar.'],
      ['Re: [Case #10001]', 'Bonjour, j’étais absent la semaine dernière. Voici la solution : redémarrez le client.'],
      ['Out of office question', 'How do I set up an out-of-office reply in your webmail?'],
    ];
    for (const [subject, text] of human) expect(s(subject, text), `${subject} / ${text}`).toBeNull();
  });
});
