// Stripe.js, loaded from Stripe's own host (never bundled: Stripe requires it so), only when a
// patient opens the card form. Locally the URL is localstripe's stand-in, which speaks the same
// calls. The card's number goes from Stripe's Card Element to Stripe alone: the portal only ever
// holds the SetupIntent's id.

export interface CardElement {
  mount(host: HTMLElement): void;
  unmount(): void;
}

export interface StripeJs {
  elements(): { create(type: "card", options?: Record<string, unknown>): CardElement };
  confirmCardSetup(
    clientSecret: string,
    data: { payment_method: { card: CardElement } },
  ): Promise<{ error?: { message?: string } | null; setupIntent?: { id: string; status: string } }>;
}

type StripeFactory = (publishableKey: string) => StripeJs;

declare global {
  interface Window {
    Stripe?: StripeFactory;
  }
}

let loading: Promise<StripeFactory> | null = null;

export function loadStripe(url: string): Promise<StripeFactory> {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  loading ??= new Promise<StripeFactory>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load")));
    script.onerror = () => {
      loading = null; // a later try loads it again
      reject(new Error("Stripe.js did not load"));
    };
    document.head.append(script);
  });
  return loading;
}
