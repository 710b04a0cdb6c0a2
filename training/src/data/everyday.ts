/**
 * Short everyday texts as API clients send them (no headers), written for evaluation and never trained on: a sanity
 * check of how the models behave outside the corpus. Ham: greetings, scheduling, receipts, one-line notes, work
 * chat. Spam: prizes, loans, pills, phishing links, crypto. No ham greeting may come back as confident spam.
 */

export interface EverydayText {
  text: string;
  label: 0 | 1;
  /** What kind of text it is (for the report). */
  style:
    | 'greeting'
    | 'scheduling'
    | 'receipt'
    | 'note'
    | 'work'
    | 'prize'
    | 'loan'
    | 'pharma'
    | 'phishing'
    | 'crypto';
}

const ham = (style: EverydayText['style'], texts: string[]): EverydayText[] =>
  texts.map((text) => ({ text, label: 0, style }));
const spam = (style: EverydayText['style'], texts: string[]): EverydayText[] =>
  texts.map((text) => ({ text, label: 1, style }));

export const EVERYDAY_TEXTS: readonly EverydayText[] = [
  ...ham('greeting', [
    'hello',
    'Hi there!',
    'Hey, how are you doing?',
    'Good morning, hope you slept well.',
    'Happy birthday! Have a great day :)',
    'Thanks so much for your help yesterday.',
    'Hi Sam, long time no see. How is the family?',
    'Congrats on the new job, well deserved!',
  ]),
  ...ham('scheduling', [
    'Can we move our call to 3pm tomorrow?',
    'Are you free for lunch on Thursday?',
    'Meeting moved to room 4B, same time.',
    "I'll be about ten minutes late, sorry.",
    'Does Monday at 10 work for the review?',
    'Reminder: dentist appointment Friday 9:30.',
    'Let me know when you are back in the office and we can sync.',
  ]),
  ...ham('receipt', [
    'Your order #48213 has shipped and should arrive on Tuesday.',
    'Receipt: 2 coffees, 1 croissant. Total 9.40. Thank you for visiting!',
    'Your monthly statement is ready to view in the app.',
    'Payment of 45.00 to City Water received. Thank you.',
    'Your table for 4 at 7:30pm on Saturday is confirmed.',
  ]),
  ...ham('note', [
    'ok',
    'sounds good',
    'Picked up milk and bread on the way home.',
    "Don't forget to water the plants.",
    'The keys are under the mat.',
    'Call me when you land.',
    'I left the report on your desk.',
    'See you at the game tonight!',
  ]),
  ...ham('work', [
    'The build is green again after the fix to the login test.',
    'Please review the pull request when you get a chance.',
    'Attached are the minutes from this morning, let me know if I missed anything.',
    'The server restart is scheduled for Sunday night, expect ten minutes of downtime.',
    'Can you send me the slides from the quarterly review?',
    'I updated the budget spreadsheet with the new figures.',
  ]),
  ...spam('prize', [
    'CONGRATULATIONS! You have WON a $1000 Walmart gift card. Click here to claim now!',
    'You are our lucky winner! Claim your FREE iPhone today, limited time offer!!!',
    'Final notice: your prize of 500,000 USD is waiting. Reply with your bank details to receive it.',
    'WIN a free cruise for two! Call now, offer expires tonight.',
  ]),
  ...spam('loan', [
    'Get a loan of up to $50,000 today, no credit check, instant approval! Apply now.',
    'Lower your mortgage rate today! Refinance now and save thousands, click here.',
    'Need cash fast? Guaranteed approval, money in your account in 1 hour.',
    'Eliminate your debt now! Consolidate all your credit cards with one low payment.',
  ]),
  ...spam('pharma', [
    'Buy Viagra online, cheap prices, no prescription needed! Discreet shipping.',
    'Lose 30 pounds in 30 days with this miracle pill, 100% guaranteed!',
    'Cheap meds online: save up to 80% on all prescription drugs, order now.',
  ]),
  ...spam('phishing', [
    'Your account has been suspended. Verify your password now at http://secure-login-update.example.com',
    'Unusual sign-in activity detected. Click here to confirm your identity or your account will be closed.',
    'Your package could not be delivered. Pay the 1.99 fee at http://parcel-redelivery.example.net to reschedule.',
    'Dear customer, update your billing information immediately to avoid service interruption.',
  ]),
  ...spam('crypto', [
    'Make $5000 a day from home with this bitcoin trading secret! Join free now!',
    'Double your crypto in 24 hours, guaranteed returns! Limited spots, act now.',
    'Earn money fast working from home, no experience needed! Click here to start earning today!!!',
  ]),
];
