//! The provider tier's per-minute budgets, named once: the pacer ([`crate::upstream::pacing`])
//! learns them from the `anthropic-ratelimit-*` headers, and [`crate::instruments`], `/health` and
//! the OpenAPI document label by them. It sits below both upstream and instruments, so the metrics
//! need not import the pacer.

/// A per-minute budget of the provider tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// Requests per minute.
    Requests,
    /// Input tokens per minute.
    InputTokens,
    /// Output tokens per minute.
    OutputTokens,
    /// Input plus output tokens per minute (older tiers with one token budget).
    Tokens,
}

impl BudgetKind {
    /// Every budget, in the order reports list them.
    pub const ALL: [BudgetKind; 4] = [
        BudgetKind::Requests,
        BudgetKind::InputTokens,
        BudgetKind::OutputTokens,
        BudgetKind::Tokens,
    ];

    /// Name in metrics labels and `/health`: `requests`, `input_tokens`, `output_tokens`,
    /// `tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Requests => "requests",
            BudgetKind::InputTokens => "input_tokens",
            BudgetKind::OutputTokens => "output_tokens",
            BudgetKind::Tokens => "tokens",
        }
    }

    /// The `{kind}` in `anthropic-ratelimit-{kind}-{limit,remaining,reset}`.
    pub fn header(self) -> &'static str {
        match self {
            BudgetKind::Requests => "requests",
            BudgetKind::InputTokens => "input-tokens",
            BudgetKind::OutputTokens => "output-tokens",
            BudgetKind::Tokens => "tokens",
        }
    }

    /// Position in [`BudgetKind::ALL`], for arrays indexed by budget.
    pub fn index(self) -> usize {
        self as usize
    }
}
