package dev.burrow.server.ssh;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PublicKey;
import java.util.List;
import java.util.Optional;

import org.apache.sshd.client.future.OpenFuture;
import org.apache.sshd.common.AttributeRepository.AttributeKey;
import org.apache.sshd.common.channel.exception.SshChannelOpenException;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.channel.Channel;
import org.apache.sshd.common.channel.ChannelFactory;
import org.apache.sshd.common.session.Session;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.auth.AbstractUserAuth;
import org.apache.sshd.server.auth.AbstractUserAuthFactory;
import org.apache.sshd.server.auth.UserAuth;
import org.apache.sshd.server.auth.keyboard.InteractiveChallenge;
import org.apache.sshd.server.auth.keyboard.UserAuthKeyboardInteractiveFactory;
import org.apache.sshd.server.auth.password.UserAuthPasswordFactory;
import org.apache.sshd.server.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.server.auth.keyboard.KeyboardInteractiveAuthenticator;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.forward.RejectAllForwardingFilter;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;
import org.apache.sshd.server.session.ServerSession;
import org.apache.sshd.server.subsystem.SubsystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.burrow.core.access.AccessDecision;
import dev.burrow.core.access.VmAccess;
import dev.burrow.core.lifecycle.LifecycleCoordinator;

/**
 * The SSH gateway: {@code ssh {vmId}:{token}@host -p PORT} (the token in the user name, as the Freestyle CLI
 * does), {@code ssh {vmId}+{user}@host} with the token as password or keyboard-interactive answer, or a public
 * key registered to an identity. Sessions run shells, commands and SFTP inside the VM and forward local ports to
 * the VM's loopback; agent, X11 and remote forwarding are refused. The credential is checked again on every new
 * channel, so revoking a token or a permission cuts an open session off at its next channel.
 */
public final class SshGateway implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SshGateway.class);
    static final AttributeKey<Grant> GRANT = new AttributeKey<>();

    /** An authenticated session: who may do what in which VM, and with which credential. */
    record Grant(SshLogin login, Credential credential, String identityId, SessionActivity activity) { }

    private final LifecycleCoordinator lifecycle;
    private final VmAccess access;
    private final SshServer sshd;

    public SshGateway(String host, int port, Path hostKeyFile, LifecycleCoordinator lifecycle, VmAccess access,
                      List<String> sftpServer) {
        this.lifecycle = lifecycle;
        this.access = access;
        this.sshd = SshServer.setUpDefaultServer();
        sshd.setHost(host);
        sshd.setPort(port);
        SimpleGeneratorHostKeyProvider keys = new SimpleGeneratorHostKeyProvider(hostKeyFile);
        keys.setAlgorithm("EC");
        keys.setKeySize(256);
        sshd.setKeyPairProvider(keys);
        sshd.setPasswordAuthenticator((user, password, session) -> login(session, user, new Credential.Token(password)));
        sshd.setKeyboardInteractiveAuthenticator(new TokenPrompt());
        sshd.setPublickeyAuthenticator((user, key, session) -> publicKey(session, user, key));
        // "none" first: with the token in the user name nothing is left to ask, which is what lets batch clients
        // (sftp -b, ssh -o BatchMode=yes: no keyboard-interactive or password) log in.
        sshd.setUserAuthFactories(List.of(new TokenInUserName(), UserAuthPublicKeyFactory.INSTANCE,
                UserAuthKeyboardInteractiveFactory.INSTANCE, UserAuthPasswordFactory.INSTANCE));
        sshd.setForwardingFilter(RejectAllForwardingFilter.INSTANCE);
        sshd.setChannelFactories(List.of(sessionChannels(), VmPortForwardChannel.factory(this)));
        sshd.setShellFactory(channel -> new SshChannelCommand(lifecycle, grant(channel).login(), SshChannelCommand.Kind.SHELL, null,
                List.of(), grant(channel).activity()));
        sshd.setCommandFactory((channel, command) -> new SshChannelCommand(lifecycle, grant(channel).login(), SshChannelCommand.Kind.EXEC,
                command, List.of(), grant(channel).activity()));
        sshd.setSubsystemFactories(List.of(new SubsystemFactory() {
            @Override
            public String getName() {
                return "sftp";
            }

            @Override
            public org.apache.sshd.server.command.Command createSubsystem(ChannelSession channel) {
                return new SshChannelCommand(lifecycle, grant(channel).login(), SshChannelCommand.Kind.SUBSYSTEM, "sftp",
                        sftpServer, grant(channel).activity());
            }
        }));
    }

    public SshGateway start() {
        try {
            Files.createDirectories(sshd.getKeyPairProvider() instanceof SimpleGeneratorHostKeyProvider p
                    ? p.getPath().toAbsolutePath().getParent() : Path.of("."));
            sshd.start();
            if (sshd.getKeyPairProvider() instanceof SimpleGeneratorHostKeyProvider p) {
                sshd.getKeyPairProvider().loadKeys(null); // generates and writes the key now, not on first login
                if (Files.exists(p.getPath())) {
                    Files.setPosixFilePermissions(p.getPath(), PosixFilePermissions.fromString("rw-------"));
                }
            }
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot start the SSH gateway on port " + sshd.getPort() + ": " + e.getMessage(), e);
        }
        log.atInfo().addKeyValue("port", port()).log("SSH gateway listening");
        return this;
    }

    /** The bound port (useful when started on port 0). */
    public int port() {
        for (SocketAddress a : sshd.getBoundAddresses()) {
            if (a instanceof InetSocketAddress i) return i.getPort();
        }
        return sshd.getPort();
    }

    LifecycleCoordinator lifecycle() {
        return lifecycle;
    }

    private boolean login(ServerSession session, String user, Credential credential) {
        Optional<SshLogin> parsed = SshLogin.parse(user);
        if (parsed.isEmpty()) {
            log.atInfo().log("ssh login refused: malformed user name");
            return false;
        }
        SshLogin login = parsed.get().withDefaultUser(defaultUser(parsed.get().vmId()));
        if (credential instanceof Credential.Token t && (t.token() == null || t.token().isEmpty())) return false;
        AccessDecision d = credential.check(access, login);
        if (d instanceof AccessDecision.Granted g) {
            session.setAttribute(GRANT, new Grant(login, credential, g.identityId(), new SessionActivity(lifecycle, login.vmId())));
            log.atInfo().addKeyValue("vm_id", login.vmId()).addKeyValue("identity", g.identityId())
                    .addKeyValue("user", login.linuxUser()).log("ssh login");
            return true;
        }
        log.atInfo().addKeyValue("vm_id", login.vmId()).log("ssh login refused: {}", ((AccessDecision.Denied) d).reason());
        return false;
    }

    /** Whom a login without {@code +user} is: the user of the snapshot the VM was made from (a Dockerfile's USER), else root. */
    private String defaultUser(String vmId) {
        try {
            String user = dev.burrow.server.http.VmRequests.defaultUser(lifecycle, vmId);
            return user != null ? user : "root";
        } catch (RuntimeException unknownVm) {
            return "root"; // the access check refuses it anyway
        }
    }

    private boolean publicKey(ServerSession session, String user, PublicKey key) {
        Optional<SshLogin> parsed = SshLogin.parse(user);
        // A token in the user name means token login; do not let a key probe consume it.
        if (parsed.isEmpty() || parsed.get().token() != null) return false;
        return login(session, user, new Credential.Key(key));
    }

    /** Checks the session's credential again; null (and the session closed) when it no longer holds. */
    Grant recheck(ServerSession session) {
        Grant g = session.getAttribute(GRANT);
        if (g == null) return null;
        if (g.credential().check(access, g.login()).granted()) return g;
        log.atInfo().addKeyValue("vm_id", g.login().vmId()).log("ssh session cut off: its credential was revoked or expired");
        session.close(false);
        return null;
    }

    private static Grant grant(ChannelSession channel) {
        return channel.getSession().getAttribute(GRANT);
    }

    private ChannelFactory sessionChannels() {
        return new ChannelFactory() {
            @Override
            public String getName() {
                return "session";
            }

            @Override
            public Channel createChannel(Session session) {
                return new ChannelSession() {
                    @Override
                    protected OpenFuture doInit(Buffer buffer) {
                        if (recheck((ServerSession) getSession()) == null) {
                            OpenFuture f = new org.apache.sshd.client.future.DefaultOpenFuture(this, this);
                            f.setException(new SshChannelOpenException(getChannelId(),
                                    SshConstants.SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, "access revoked"));
                            return f;
                        }
                        return super.doInit(buffer);
                    }
                };
            }
        };
    }

    /** The "none" method, granted only when the user name carries a valid token. */
    private final class TokenInUserName extends AbstractUserAuthFactory {
        TokenInUserName() {
            super("none");
        }

        @Override
        public UserAuth createUserAuth(ServerSession session) {
            return new AbstractUserAuth("none") {
                @Override
                protected Boolean doAuth(Buffer buffer, boolean init) {
                    Optional<SshLogin> login = SshLogin.parse(getUsername());
                    if (login.isEmpty() || login.get().token() == null) return Boolean.FALSE;
                    return login(getServerSession(), getUsername(), new Credential.Token(login.get().token()));
                }
            };
        }
    }

    /**
     * Keyboard-interactive: with the token in the user name there is nothing to ask (OpenSSH accepts a
     * challenge without prompts); otherwise the token is asked for, without echo.
     */
    private final class TokenPrompt implements KeyboardInteractiveAuthenticator {
        @Override
        public InteractiveChallenge generateChallenge(ServerSession session, String username, String lang, String subMethods) {
            InteractiveChallenge c = new InteractiveChallenge();
            c.setInteractionName("");
            c.setInteractionInstruction("");
            Optional<SshLogin> login = SshLogin.parse(username);
            if (login.isPresent() && login.get().token() == null) c.addPrompt("Burrow access token: ", false);
            return c;
        }

        @Override
        public boolean authenticate(ServerSession session, String username, List<String> responses) {
            Optional<SshLogin> login = SshLogin.parse(username);
            if (login.isEmpty()) return false;
            String token = login.get().token() != null ? login.get().token()
                    : responses.isEmpty() ? null : responses.get(0).strip();
            return login(session, username, new Credential.Token(token));
        }
    }

    @Override
    public void close() {
        try {
            sshd.stop(true);
        } catch (IOException e) {
            log.warn("SSH gateway did not stop cleanly: {}", e.getMessage());
        }
    }
}
