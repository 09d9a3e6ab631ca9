import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { ApiError } from "./api/client";
import { SessionProvider, useSession } from "./api/context";
import { Layout } from "./components/Layout";
import { Checking, Refused } from "./components/Status";
import { AccountDetailPage } from "./pages/AccountDetail";
import { AccountsPage } from "./pages/Accounts";
import { ApprovalsPage } from "./pages/Approvals";
import { AuditLogPage } from "./pages/AuditLog";
import { BreakDetailPage } from "./pages/BreakDetail";
import { BreaksPage } from "./pages/Breaks";
import { DeadLettersPage } from "./pages/DeadLetters";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { OverviewPage } from "./pages/Overview";
import { PaymentDetailPage } from "./pages/PaymentDetail";
import { PaymentsPage } from "./pages/Payments";
import { PayoutDetailPage } from "./pages/PayoutDetail";
import { PayoutsPage } from "./pages/Payouts";
import { RequestDetailPage } from "./pages/RequestDetail";
import { TransactionDetailPage } from "./pages/TransactionDetail";

function Queries({ children }: { children: ReactNode }) {
  const { unauthenticated } = useSession();
  const [client] = useState(() => {
    const onError = (error: unknown) => {
      if (error instanceof ApiError && error.unauthenticated) unauthenticated(); // stable: reads no mode
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: {
        queries: {
          staleTime: 10_000,
          retry: (count, error) => !(error instanceof ApiError && error.status > 0 && error.status < 500) && count < 2,
        },
      },
    });
  });
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

function RequireSession({ children }: { children: ReactNode }) {
  const { checking, signedIn, refused } = useSession();
  const location = useLocation();
  if (checking) return <Checking />;
  if (refused) return <Refused />;
  if (!signedIn) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <Layout>{children}</Layout>;
}

export function App() {
  return (
    <SessionProvider>
      <Queries>
        <BrowserRouter basename="/console">
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/" element={<RequireSession><OverviewPage /></RequireSession>} />
            <Route path="/dead-letters" element={<RequireSession><DeadLettersPage /></RequireSession>} />
            <Route path="/breaks" element={<RequireSession><BreaksPage /></RequireSession>} />
            <Route path="/breaks/:id" element={<RequireSession><BreakDetailPage /></RequireSession>} />
            <Route path="/approvals" element={<RequireSession><ApprovalsPage /></RequireSession>} />
            <Route path="/approvals/:id" element={<RequireSession><RequestDetailPage /></RequireSession>} />
            <Route path="/audit-log" element={<RequireSession><AuditLogPage /></RequireSession>} />
            <Route path="/accounts" element={<RequireSession><AccountsPage /></RequireSession>} />
            <Route path="/accounts/:account" element={<RequireSession><AccountDetailPage /></RequireSession>} />
            <Route path="/transactions/:id" element={<RequireSession><TransactionDetailPage /></RequireSession>} />
            <Route path="/payouts" element={<RequireSession><PayoutsPage /></RequireSession>} />
            <Route path="/payouts/:id" element={<RequireSession><PayoutDetailPage /></RequireSession>} />
            <Route path="/payments" element={<RequireSession><PaymentsPage /></RequireSession>} />
            <Route path="/payments/:id" element={<RequireSession><PaymentDetailPage /></RequireSession>} />
            <Route path="*" element={<RequireSession><NotFoundPage /></RequireSession>} />
          </Routes>
        </BrowserRouter>
      </Queries>
    </SessionProvider>
  );
}
